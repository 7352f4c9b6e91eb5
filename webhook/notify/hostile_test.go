package notify_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/notify"
)

// hostile is a notification whose texts try Slack's control sequences and are far too long for
// any service.
func hostile() notify.Notification {
	n := sample(notify.SeverityError, 0)
	n.Message = "<!channel> <!here> <@U123|boss> & " + strings.Repeat("é", 200_000)
	for i := range 300 {
		n.Fields = append(n.Fields, notify.Field{Name: "<!everyone>", Value: strings.Repeat("v", 5000) + string(rune('a'+i%26))})
	}
	n.Event.Message = strings.Repeat("m", 100_000)
	n.Event.Checks = []canary.CheckResult{
		{Name: "no-data", Query: strings.Repeat("q", 70_000), Value: math.NaN(), Verdict: canary.VerdictNoData},
		{Name: "inf", Value: math.Inf(1), Verdict: canary.VerdictFail},
	}
	return n
}

// strs collects every string of a decoded JSON document.
func strs(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			strs(e, out)
		}
	case map[string]any:
		for _, e := range x {
			strs(e, out)
		}
	}
}

// Slack reads <!channel>, <!here> and <@user> as mentions in every text: none passes unescaped.
func TestSlackEscapesEveryText(t *testing.T) {
	rc, url := receive(t, 200, "ok")
	s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/services/T/B/X"})
	require.NoError(t, err)
	n := sample(notify.SeverityError, 3)
	n.Message = "<!channel> deploy <@U123> & <https://evil.test|click>"
	n.Fields[0].Value = "<!here>"
	require.NoError(t, s.Notify(context.Background(), n))
	var all []string
	strs(decode(t, rc.Requests()[0].Body), &all)
	require.NotEmpty(t, all)
	for _, text := range all {
		assert.NotContains(t, text, "<", "unescaped < in %q", text)
		assert.NotContains(t, text, ">", "unescaped > in %q", text)
	}
	assert.Contains(t, strings.Join(all, "\n"), "&lt;!channel&gt;")
}

// Every service gets valid JSON within its bound, however long the notification.
func TestPayloadsAreBounded(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		limit int
		make  func(url string) (notify.Notifier, error)
	}{
		{"slack", notify.SlackPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewSlack(notify.SlackConfig{URL: u + "/services/T/B/X"})
		}},
		{"teams adaptive card", notify.TeamsPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewTeams(notify.TeamsConfig{URL: u})
		}},
		{"teams message card", notify.TeamsPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewTeams(notify.TeamsConfig{URL: u, Format: notify.TeamsMessageCard})
		}},
		{"discord", notify.DiscordPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewDiscord(notify.DiscordConfig{URL: u + "/api/webhooks/1/x"})
		}},
		{"discord slack endpoint", notify.DiscordPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewDiscord(notify.DiscordConfig{URL: u + "/api/webhooks/1/x/slack"})
		}},
		{"google chat", notify.GoogleChatPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewGoogleChat(notify.GoogleChatConfig{URL: u + "/v1/spaces/A/messages?key=k&token=t"})
		}},
		{"json", notify.JSONPayloadLimit, func(u string) (notify.Notifier, error) {
			return notify.NewJSON(notify.JSONConfig{URL: u})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, url := receive(t, 200, "ok")
			nt, err := c.make(url)
			require.NoError(t, err)
			require.NoError(t, nt.Notify(ctx, hostile()))
			body := rc.Requests()[0].Body
			assert.LessOrEqual(t, len(body), c.limit)
			assert.True(t, json.Valid(body), "valid JSON")
			assert.True(t, utf8.Valid(body), "no rune cut in half")
			assert.Contains(t, string(body), "…", "cuts are marked")
			assert.Contains(t, string(body), "podinfo", "what the notification is about survives")
		})
	}
}

// Discord refuses an embed over 6,000 characters in all.
func TestDiscordEmbedWithinItsTotal(t *testing.T) {
	rc, url := receive(t, 200, "ok")
	d, err := notify.NewDiscord(notify.DiscordConfig{URL: url + "/api/webhooks/1/x"})
	require.NoError(t, err)
	n := sample(notify.SeverityWarn, 25)
	n.Message = strings.Repeat("d", 4000)
	for i := range n.Fields {
		n.Fields[i].Value = strings.Repeat("f", 900)
	}
	require.NoError(t, d.Notify(context.Background(), n))
	var msg struct {
		Embeds []struct {
			Title, Description string
			Fields             []struct{ Name, Value string }
			Footer             struct{ Text string }
		}
	}
	require.NoError(t, json.Unmarshal(rc.Requests()[0].Body, &msg))
	e := msg.Embeds[0]
	total := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description) + utf8.RuneCountInString(e.Footer.Text)
	for _, f := range e.Fields {
		total += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
	}
	assert.LessOrEqual(t, total, 6000)
	assert.NotEmpty(t, e.Fields, "fields are dropped only as far as needed")
}

// A check without data has a NaN value, which JSON cannot hold: it is null, not a failed
// delivery.
func TestJSONNotifierWritesNaNAsNull(t *testing.T) {
	rc, url := receive(t, 200, "ok")
	j, err := notify.NewJSON(notify.JSONConfig{URL: url})
	require.NoError(t, err)
	n := sample(notify.SeverityWarn, 0)
	n.Event.Checks = []canary.CheckResult{{Name: "rate", Value: math.NaN(), Verdict: canary.VerdictNoData}, {Name: "d", Value: 1.5}}
	require.NoError(t, j.Notify(context.Background(), n))
	var p struct {
		Checks []struct {
			Name  string
			Value *float64
		}
	}
	require.NoError(t, json.Unmarshal(rc.Requests()[0].Body, &p))
	require.Len(t, p.Checks, 2)
	assert.Nil(t, p.Checks[0].Value)
	require.NotNil(t, p.Checks[1].Value)
	assert.Equal(t, 1.5, *p.Checks[1].Value)
}
