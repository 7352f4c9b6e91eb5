package notify

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/canary"
)

// FuzzPayloads: for any notification texts, every service's payload is valid JSON within its
// limit, and no Slack text, nor Google Chat paragraph outside canarykit's own tags, carries an
// unescaped < or >.
func FuzzPayloads(f *testing.F) {
	f.Add("<!channel> & <@U1>", "field", "value", "q", 1.5, 3)
	f.Add(strings.Repeat("é", 40000), "<!here>", strings.Repeat("v", 3000), strings.Repeat("q", 70000), math.NaN(), 200)
	f.Add("\xff\xfe", "", "", "", math.Inf(1), 0)
	f.Fuzz(func(t *testing.T, msg, name, value, query string, v float64, fields int) {
		n := Notification{Severity: SeverityWarn, Target: canary.Target{Namespace: "test", Name: "podinfo"}, Message: msg,
			Event: canary.Event{Message: msg, Checks: []canary.CheckResult{{Name: name, Query: query, Value: v, Message: value}}}}
		for i := range min(max(fields, 0), 300) {
			n.Fields = append(n.Fields, Field{Name: name, Value: value + string(rune('a'+i%26))})
		}
		slack := fit(n, SlackPayloadLimit, (&Slack{}).payload)
		check(t, "slack", slack, SlackPayloadLimit)
		var texts []string
		collect(slack, &texts)
		for _, s := range texts {
			if !strings.HasPrefix(s, "#") { // colours
				assert.False(t, strings.ContainsAny(s, "<>"), "unescaped Slack text %q", s)
			}
		}
		check(t, "teams", fit(n, TeamsPayloadLimit, adaptiveMessage), TeamsPayloadLimit)
		check(t, "teams message card", fit(n, TeamsPayloadLimit, messageCard), TeamsPayloadLimit)
		check(t, "discord", fit(n, DiscordPayloadLimit, (&Discord{}).payload), DiscordPayloadLimit)
		check(t, "discord slack", fit(n, DiscordPayloadLimit, func(n Notification) slackMessage { return legacySlack(n, "", "") }), DiscordPayloadLimit)
		chat := fit(n, GoogleChatPayloadLimit, googleChatMessage)
		check(t, "gchat", chat, GoogleChatPayloadLimit)
		assert.LessOrEqual(t, len(chat.Cards[0].Sections), googleChatWidgets, "gchat widgets")
		for _, s := range chat.Cards[0].Sections {
			text := ChatMarkup.ReplaceAllString(s.Widgets[0].TextParagraph.Text, "")
			assert.False(t, strings.ContainsAny(text, "<>"), "unescaped Google Chat text %q", text)
		}
		check(t, "json", fit(n, JSONPayloadLimit, NewJSONPayload), JSONPayloadLimit)
	})
}

// ChatMarkup matches the HTML canarykit writes into Google Chat's text paragraphs (exported to
// the package's external tests).
var ChatMarkup = regexp.MustCompile(`<font color="#[0-9a-f]{6}">|</font>|<b>|</b>|<br>`)

func check(t *testing.T, service string, p any, limit int) {
	t.Helper()
	b, err := json.Marshal(p)
	if !assert.NoError(t, err, service) {
		return
	}
	assert.LessOrEqual(t, len(b), limit, service)
	assert.True(t, json.Valid(b), service)
	assert.True(t, utf8.Valid(b), service)
}

// collect gathers every string of a payload, as it will be sent.
func collect(p any, out *[]string) {
	b, _ := json.Marshal(p)
	var v any
	_ = json.Unmarshal(b, &v)
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			*out = append(*out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}
