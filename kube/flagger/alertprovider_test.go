package flagger_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// alertProvider is an AlertProvider ops/p whose spec is the given flow mapping's contents.
func alertProvider(spec string) []byte {
	return []byte("apiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata: {name: p, namespace: ops}\nspec: {" + spec + "}\n")
}

// Flagger sends every slack and rocket alert with a channel and a username, "general" and
// "flagger" when the AlertProvider gives none, and every discord alert with a username
// (Discord's webhooks post to their own channel). canarykit sent none where none was given,
// so a legacy Slack webhook, chat.postMessage or Rocket.Chat posted elsewhere, and under
// another name, than Flagger does: the loaded provider now carries Flagger's defaults.
func TestAlertProviderChannelAndUsernameDefaultAsInFlagger(t *testing.T) {
	for _, tc := range []struct {
		spec              string
		channel, username string
	}{
		{`type: slack, address: "https://hooks.slack.com/services/T/B/X"`, "general", "flagger"},
		{`type: rocket, address: "https://chat.example.com/hooks/x"`, "general", "flagger"},
		{`type: slack, address: "https://hooks.slack.com/services/T/B/X", channel: releases, username: shipper`, "releases", "shipper"},
		{`type: discord, address: "https://discord.com/api/webhooks/1/abc"`, "", "flagger"},
		{`type: discord, address: "https://discord.com/api/webhooks/1/abc", username: shipper`, "", "shipper"},
		{`type: msteams, address: "https://example.webhook.office.com/x"`, "", ""},
		{`type: gchat, address: "https://chat.googleapis.com/v1/spaces/AAA/messages"`, "", ""},
	} {
		objs, err := flagger.LoadObjects(alertProvider(tc.spec))
		require.NoError(t, err, tc.spec)
		p := objs.AlertProviders[0]
		assert.Equal(t, tc.channel, p.Channel, tc.spec)
		assert.Equal(t, tc.username, p.Username, tc.spec)
	}
}

// Flagger's msteams and gchat alerts carry neither a channel nor a username, and a Discord
// webhook posts to its own channel whatever the payload says: given there, they were read
// and dropped; they are refused at their paths.
func TestAlertProviderChannelAndUsernameRefusedWhereUnused(t *testing.T) {
	for spec, want := range map[string][]string{
		`type: msteams, address: "https://example.webhook.office.com/x", channel: ops, username: shipper`: {
			"spec.channel: msteams does not use it: Flagger's msteams alerts carry no channel (the webhook posts to its own); leave it out",
			"spec.username: msteams does not use it: Flagger's msteams alerts carry no username; leave it out",
		},
		`type: gchat, address: "https://chat.googleapis.com/v1/spaces/AAA/messages", channel: ops`: {
			"spec.channel: gchat does not use it: Flagger's gchat alerts carry no channel (the webhook posts to its own); leave it out",
		},
		`type: discord, address: "https://discord.com/api/webhooks/1/abc", channel: ops`: {
			"spec.channel: discord does not use it: a Discord webhook posts to its own channel, whatever Flagger sends; leave it out",
		},
	} {
		_, err := flagger.LoadObjects(alertProvider(spec))
		assert.ElementsMatch(t, want, problems(t, err), spec)
	}
}

// Flagger's documentation gives an alert without a severity info (every alert); Flagger
// v1.44's code sends it none (it compares the empty severity with each alert's). canarykit
// keeps the documented default, and says so in a Note at the alert's path; a severity given
// is read as it is, without a Note.
func TestAlertWithoutSeverityIsNoted(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(strings.Replace(string(canaryWith("linkerd", "")), "{interval: 30s, iterations: 5}",
		"{interval: 30s, iterations: 5, alerts: [{name: on-call, providerRef: {name: slack}}, {name: dev, severity: warn, providerRef: {name: slack}}]}", 1)))
	require.NoError(t, err)
	assert.Equal(t, "info", m.Alerts[0].Severity)
	assert.Equal(t, "warn", m.Alerts[1].Severity)
	assert.Contains(t, m.Notes, "spec.analysis.alerts[0].severity is not set: canarykit sends this alert every event from info on, as Flagger's documentation says; Flagger v1.44 sends it none (set severity: info to have both agree)")
	for _, n := range m.Notes {
		assert.NotContains(t, n, "alerts[1]")
	}
}
