package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/notify"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

var podinfo = canary.Target{Namespace: "test", Name: "podinfo"}

func sample(sev notify.Severity, fields int) notify.Notification {
	n := notify.Notification{
		Severity: sev, Target: podinfo, Message: "Failed checks threshold reached 5 <&>",
		Event: canary.Event{Time: time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC), Target: podinfo, Type: canary.EventWarning,
			Reason: canary.ReasonRollingBack, Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(20), FailedChecks: 5,
			Message: "Rolling back podinfo.test failed checks threshold reached 5"},
	}
	for i := range fields {
		n.Fields = append(n.Fields, notify.Field{Name: fmt.Sprintf("Field %d", i), Value: fmt.Sprintf("value %d", i)})
	}
	return n
}

// receive starts a receiver answering like the service (status, body) and returns its URL.
func receive(t *testing.T, status int, body string) (*webhooktest.Receiver, string) {
	rc := &webhooktest.Receiver{Respond: func(int, webhooktest.Request) (int, string) { return status, body }}
	return rc, rc.Start(t)
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// checkSlack validates a message against Slack's documented shapes: the top-level fields of
// an incoming webhook / chat.postMessage, attachments with a colour, and Block Kit blocks
// within their limits.
func checkSlack(t *testing.T, body []byte) map[string]any {
	t.Helper()
	m := decode(t, body)
	for _, k := range keys(m) {
		assert.Contains(t, []string{"text", "blocks", "attachments", "channel", "username", "icon_emoji", "icon_url",
			"thread_ts", "mrkdwn", "unfurl_links"}, k, "Slack message field")
	}
	text, _ := m["text"].(string)
	assert.NotEmpty(t, text, "text is the notification fallback")
	atts, _ := m["attachments"].([]any)
	require.NotEmpty(t, atts)
	for _, a := range atts {
		att := a.(map[string]any)
		assert.Regexp(t, regexp.MustCompile(`^(#[0-9a-f]{6}|good|warning|danger)$`), att["color"])
		blocks, _ := att["blocks"].([]any)
		require.NotEmpty(t, blocks)
		for _, b := range blocks {
			checkBlock(t, b.(map[string]any))
		}
	}
	return m
}

func checkBlock(t *testing.T, b map[string]any) {
	t.Helper()
	textObj := func(o any, limit int) {
		to := o.(map[string]any)
		assert.Contains(t, []string{"mrkdwn", "plain_text"}, to["type"])
		s, _ := to["text"].(string)
		assert.NotEmpty(t, s)
		assert.LessOrEqual(t, utf8.RuneCountInString(s), limit)
	}
	switch b["type"] {
	case "section":
		_, hasText := b["text"]
		fields, _ := b["fields"].([]any)
		assert.True(t, hasText || len(fields) > 0, "a section needs text or fields")
		if hasText {
			textObj(b["text"], 3000)
		}
		assert.LessOrEqual(t, len(fields), 10)
		for _, f := range fields {
			textObj(f, 2000)
		}
	case "context":
		els, _ := b["elements"].([]any)
		require.NotEmpty(t, els)
		assert.LessOrEqual(t, len(els), 10)
		for _, e := range els {
			textObj(e, 3000)
		}
	default:
		t.Errorf("unexpected block type %v", b["type"])
	}
}

func TestSlackMessage(t *testing.T) {
	rc, url := receive(t, 200, "ok")
	s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/services/T0/B0/secret", Username: "canarykit", IconEmoji: ":rocket:", Channel: "#deploys"})
	require.NoError(t, err)
	require.NoError(t, s.Notify(context.Background(), sample(notify.SeverityError, 12)))

	m := checkSlack(t, rc.Requests()[0].Body)
	assert.Equal(t, "podinfo.test: Failed checks threshold reached 5 &lt;&amp;&gt;", m["text"], "the top-level text is escaped too")
	assert.Equal(t, "canarykit", m["username"])
	assert.Equal(t, ":rocket:", m["icon_emoji"])
	assert.Equal(t, "#deploys", m["channel"])
	att := m["attachments"].([]any)[0].(map[string]any)
	assert.Equal(t, "#a30200", att["color"])
	blocks := att["blocks"].([]any)
	require.Len(t, blocks, 4, "title section, two field sections (10 + 2), context")
	assert.Equal(t, "*podinfo.test*\nFailed checks threshold reached 5 &lt;&amp;&gt;",
		blocks[0].(map[string]any)["text"].(map[string]any)["text"], "mrkdwn is escaped")
	assert.Len(t, blocks[1].(map[string]any)["fields"], 10)
	assert.Equal(t, "*Field 0*\nvalue 0", blocks[1].(map[string]any)["fields"].([]any)[0].(map[string]any)["text"])
	assert.Equal(t, "canarykit · error · Progressing · RollingBack",
		blocks[3].(map[string]any)["elements"].([]any)[0].(map[string]any)["text"])
	assert.Empty(t, rc.Requests()[0].Header.Get("Authorization"))
}

func TestSlackAPIToken(t *testing.T) {
	rc, url := receive(t, 200, `{"ok":true}`)
	s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/api/chat.postMessage", Token: "xoxb-1", Channel: "C123"})
	require.NoError(t, err)
	require.NoError(t, s.Notify(context.Background(), sample(notify.SeverityInfo, 0)))
	assert.Equal(t, "Bearer xoxb-1", rc.Requests()[0].Header.Get("Authorization"))
	assert.Equal(t, "C123", checkSlack(t, rc.Requests()[0].Body)["channel"])
}

// checkAdaptive validates a Teams webhook message carrying one Adaptive Card, as Microsoft
// documents it for Workflows webhooks.
func checkAdaptive(t *testing.T, body []byte) map[string]any {
	t.Helper()
	m := decode(t, body)
	assert.Equal(t, "message", m["type"])
	atts := m["attachments"].([]any)
	require.Len(t, atts, 1)
	att := atts[0].(map[string]any)
	assert.Equal(t, "application/vnd.microsoft.card.adaptive", att["contentType"])
	assert.Contains(t, att, "contentUrl")
	assert.Nil(t, att["contentUrl"])
	card := att["content"].(map[string]any)
	assert.Equal(t, "AdaptiveCard", card["type"])
	assert.Equal(t, "http://adaptivecards.io/schemas/adaptive-card.json", card["$schema"])
	assert.Equal(t, "1.4", card["version"])
	var walk func(els []any)
	walk = func(els []any) {
		for _, e := range els {
			el := e.(map[string]any)
			switch el["type"] {
			case "TextBlock":
				assert.NotEmpty(t, el["text"])
				if c, ok := el["color"]; ok {
					assert.Contains(t, []string{"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"}, c)
				}
			case "FactSet":
				for _, f := range el["facts"].([]any) {
					fact := f.(map[string]any)
					assert.IsType(t, "", fact["title"])
					assert.IsType(t, "", fact["value"])
				}
			case "Container":
				if s, ok := el["style"]; ok {
					assert.Contains(t, []string{"default", "emphasis", "good", "attention", "warning", "accent"}, s)
				}
				walk(el["items"].([]any))
			default:
				t.Errorf("unexpected card element %v", el["type"])
			}
		}
	}
	walk(card["body"].([]any))
	return card
}

func TestTeamsAdaptiveCard(t *testing.T) {
	rc, url := receive(t, 202, "") // Workflows answer 202 Accepted
	tm, err := notify.NewTeams(notify.TeamsConfig{URL: url + "/workflows/secret"})
	require.NoError(t, err)
	require.NoError(t, tm.Notify(context.Background(), sample(notify.SeverityWarn, 2)))

	card := checkAdaptive(t, rc.Requests()[0].Body)
	body := card["body"].([]any)
	head := body[0].(map[string]any)
	assert.Equal(t, "warning", head["style"])
	title := head["items"].([]any)[0].(map[string]any)
	assert.Equal(t, "podinfo.test", title["text"])
	assert.Equal(t, "Warning", title["color"])
	assert.Equal(t, "Failed checks threshold reached 5 <&>", head["items"].([]any)[1].(map[string]any)["text"])
	facts := body[1].(map[string]any)["facts"].([]any)
	assert.Equal(t, map[string]any{"title": "Field 0", "value": "value 0"}, facts[0])
}

func TestTeamsMessageCard(t *testing.T) {
	rc, url := receive(t, 200, "1") // legacy connectors answer "1"
	tm, err := notify.NewTeams(notify.TeamsConfig{URL: url, Format: notify.TeamsMessageCard})
	require.NoError(t, err)
	require.NoError(t, tm.Notify(context.Background(), sample(notify.SeverityError, 1)))
	m := decode(t, rc.Requests()[0].Body)
	assert.Equal(t, "MessageCard", m["@type"])
	assert.Equal(t, "http://schema.org/extensions", m["@context"])
	assert.Equal(t, "FF0000", m["themeColor"])
	sec := m["sections"].([]any)[0].(map[string]any)
	assert.Equal(t, "podinfo.test", sec["activitySubtitle"])
	assert.Equal(t, []any{map[string]any{"name": "Field 0", "value": "value 0"}}, sec["facts"])

	_, err = notify.NewTeams(notify.TeamsConfig{URL: url, Format: "O365"})
	assert.ErrorIs(t, err, notify.ErrInvalidConfig)
}

// checkDiscord validates an Execute Webhook body against Discord's documented limits.
func checkDiscord(t *testing.T, body []byte) map[string]any {
	t.Helper()
	m := decode(t, body)
	embeds, _ := m["embeds"].([]any)
	content, _ := m["content"].(string)
	require.True(t, content != "" || len(embeds) > 0, "content or embeds required")
	assert.LessOrEqual(t, len(embeds), 10)
	total := 0
	count := func(s any, limit int) {
		str, _ := s.(string)
		assert.LessOrEqual(t, utf8.RuneCountInString(str), limit)
		total += utf8.RuneCountInString(str)
	}
	for _, e := range embeds {
		em := e.(map[string]any)
		count(em["title"], 256)
		count(em["description"], 4096)
		c := em["color"].(float64)
		assert.True(t, c >= 0 && c <= 0xFFFFFF)
		fields, _ := em["fields"].([]any)
		assert.LessOrEqual(t, len(fields), 25)
		for _, f := range fields {
			fd := f.(map[string]any)
			assert.NotEmpty(t, fd["name"])
			assert.NotEmpty(t, fd["value"])
			count(fd["name"], 256)
			count(fd["value"], 1024)
		}
		if ft, ok := em["footer"].(map[string]any); ok {
			count(ft["text"], 2048)
		}
		_, err := time.Parse(time.RFC3339, em["timestamp"].(string))
		assert.NoError(t, err, "ISO8601 timestamp")
	}
	assert.LessOrEqual(t, total, 6000, "embed characters in total")
	return m
}

func TestDiscordEmbeds(t *testing.T) {
	rc, url := receive(t, 204, "") // Discord answers 204 No Content
	d, err := notify.NewDiscord(notify.DiscordConfig{URL: url + "/api/webhooks/1/secret", Username: "canarykit"})
	require.NoError(t, err)
	n := sample(notify.SeverityInfo, 30)
	n.Message = strings.Repeat("m", 5000)
	require.NoError(t, d.Notify(context.Background(), n))

	m := checkDiscord(t, rc.Requests()[0].Body)
	assert.Equal(t, "canarykit", m["username"])
	em := m["embeds"].([]any)[0].(map[string]any)
	assert.Equal(t, "podinfo.test", em["title"])
	assert.Equal(t, float64(0x2eb886), em["color"])
	assert.Len(t, em["fields"], 25)
	assert.Equal(t, "2026-01-01T00:05:00Z", em["timestamp"])
}

func TestDiscordSlackEndpoint(t *testing.T) {
	rc, url := receive(t, 200, "ok")
	d, err := notify.NewDiscord(notify.DiscordConfig{URL: url + "/api/webhooks/1/secret/slack", Username: "flagger"})
	require.NoError(t, err)
	require.NoError(t, d.Notify(context.Background(), sample(notify.SeverityError, 1)))
	m := decode(t, rc.Requests()[0].Body)
	assert.Equal(t, "flagger", m["username"])
	att := m["attachments"].([]any)[0].(map[string]any)
	assert.Equal(t, "podinfo.test", att["author_name"], "Flagger's Slack attachment format")
	assert.Equal(t, "Failed checks threshold reached 5 <&>", att["text"])
	assert.Equal(t, []any{map[string]any{"title": "Field 0", "value": "value 0", "short": false}}, att["fields"])
	assert.NotContains(t, att, "blocks", "Discord's Slack endpoint does not render Block Kit")
}

func TestJSONNotifier(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{key}})
	require.NoError(t, err)
	rc := &webhooktest.Receiver{Verifier: v}
	url := rc.Start(t)
	j, err := notify.NewJSON(notify.JSONConfig{URL: url, SigningKey: key, Header: http.Header{"X-Team": {"web"}}})
	require.NoError(t, err)
	n := sample(notify.SeverityError, 1)
	n.Event.Checks = []canary.CheckResult{{Name: "request-success-rate", Query: "sum(...)", Value: 91.5, Verdict: canary.VerdictFail, Message: "request-success-rate 91.50 < 99"},
		{Name: "error-budget-v2", Value: 3, Verdict: canary.VerdictFail, DryRun: true}}
	require.NoError(t, j.Notify(context.Background(), n))

	got := rc.Requests()[0]
	assert.Equal(t, 200, got.Status, "signed like webhook requests")
	assert.Equal(t, "web", got.Header.Get("X-Team"))
	assert.JSONEq(t, `{
		"severity": "error", "name": "podinfo", "namespace": "test",
		"message": "Failed checks threshold reached 5 <&>",
		"fields": [{"name": "Field 0", "value": "value 0"}],
		"reason": "RollingBack", "eventType": "Warning",
		"eventMessage": "Rolling back podinfo.test failed checks threshold reached 5",
		"phase": "Progressing", "canaryWeight": 20, "failedChecks": 5, "iteration": 0,
		"checks": [{"name": "request-success-rate", "query": "sum(...)", "value": 91.5, "verdict": "Fail",
			"message": "request-success-rate 91.50 < 99"},
			{"name": "error-budget-v2", "value": 3, "verdict": "Fail", "dryRun": true}],
		"timestamp": "2026-01-01T00:05:00Z"}`, string(got.Body))
}

func TestDeliveryErrorsKeepURLsSecret(t *testing.T) {
	_, url := receive(t, 400, "invalid_payload")
	s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/services/T0/B0/secret"})
	require.NoError(t, err)
	err = s.Notify(context.Background(), sample(notify.SeverityInfo, 0))
	require.ErrorIs(t, err, notify.ErrStatus)
	assert.Contains(t, err.Error(), `slack notification to `+url+`/…: unexpected status 400 Bad Request: body "invalid_payload"`)
	assert.NotContains(t, err.Error(), "secret")

	s, err = notify.NewSlack(notify.SlackConfig{URL: "http://127.0.0.1:1/services/T0/B0/secret"})
	require.NoError(t, err)
	err = s.Notify(context.Background(), sample(notify.SeverityInfo, 0))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}

func TestConstructorsReportProblems(t *testing.T) {
	_, err := notify.NewSlack(notify.SlackConfig{URL: "hooks.slack.com", IconEmoji: ":x:", IconURL: "http://i"})
	require.ErrorIs(t, err, notify.ErrInvalidConfig)
	assert.ErrorContains(t, err, "URL: must be an absolute http(s) URL")
	assert.ErrorContains(t, err, "IconEmoji and IconURL")
	_, err = notify.NewDiscord(notify.DiscordConfig{URL: "", Username: strings.Repeat("u", 81)})
	assert.ErrorContains(t, err, "Username")
	_, err = notify.NewJSON(notify.JSONConfig{URL: "http://x", SigningKey: []byte("short")})
	assert.ErrorContains(t, err, "SigningKey")
}
