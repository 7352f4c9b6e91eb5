package notify_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/webhook/notify"
)

// A release that fails its checks, with alerts to Slack (everything) and Teams (errors only)
// over loopback HTTP.
func TestAlertsOfAFailedRelease(t *testing.T) {
	slackRC, slackURL := receive(t, 200, "ok")
	teamsRC, teamsURL := receive(t, 202, "")
	slack, err := notify.NewSlack(notify.SlackConfig{URL: slackURL})
	require.NoError(t, err)
	teams, err := notify.NewTeams(notify.TeamsConfig{URL: teamsURL})
	require.NoError(t, err)
	d, err := notify.New(notify.Config{Cluster: "prod-eu", Routes: []notify.Route{
		{Name: "slack", Notifier: slack},
		{Name: "teams", Notifier: teams, MinSeverity: notify.SeverityError},
	}})
	require.NoError(t, err)
	stop := start(t, d)

	env := canarytest.NewEnv(podinfo)
	// The canary's success rate drops once it takes 30 % of the traffic.
	env.Metrics.Set("request-success-rate", canarytest.ByWeight(func(w int) float64 {
		if w >= 30 {
			return 90
		}
		return 100
	}))
	spec := canary.Spec{Interval: 30 * time.Second, Threshold: 2, StepWeight: 10, MaxWeight: 50,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}}
	cfg := env.Config(spec)
	cfg.OnEvent = d.OnEvent(spec)
	r, err := canary.New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = r.Run(ctx)
	require.NoError(t, err)
	env.Workload.SetRevision("v1")
	res, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	require.NoError(t, d.Flush(ctx))
	stop()

	var slackTexts []string
	for _, req := range slackRC.Requests() {
		checkSlack(t, req.Body)
		var m struct{ Text string }
		require.NoError(t, json.Unmarshal(req.Body, &m))
		slackTexts = append(slackTexts, m.Text)
	}
	assert.Equal(t, []string{
		"podinfo.test: New workload detected, initialization completed.",
		"podinfo.test: New revision detected, progressing canary analysis.",
		"podinfo.test: Failed checks threshold reached 2",
	}, slackTexts)
	require.Len(t, teamsRC.Requests(), 1, "Teams takes errors only")
	card := checkAdaptive(t, teamsRC.Requests()[0].Body)
	head := card["body"].([]any)[0].(map[string]any)
	assert.Equal(t, "attention", head["style"])
	facts := card["body"].([]any)[1].(map[string]any)["facts"].([]any)
	assert.Equal(t, []any{
		map[string]any{"title": "Cluster", "value": "prod-eu"},
		map[string]any{"title": "Canary weight", "value": "30"},
		map[string]any{"title": "Failed checks", "value": "2"},
	}, facts)
	assert.Equal(t, notify.Stats{Queued: 3, Delivered: 4}, d.Stats())
}
