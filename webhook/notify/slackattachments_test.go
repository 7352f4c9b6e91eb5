package notify_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/notify"
)

// With Attachments, Slack posts Flagger's attachment (author, text, fields) and no blocks:
// what Slack-compatible services without Block Kit (Rocket.Chat) render.
func TestSlackAttachments(t *testing.T) {
	rc, url := receive(t, 200, "ok")
	s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/hooks/x", Channel: "general", Username: "flagger",
		IconEmoji: ":rocket:", Attachments: true})
	require.NoError(t, err)
	require.NoError(t, s.Notify(context.Background(), sample(notify.SeverityError, 2)))

	m := decode(t, rc.Requests()[0].Body)
	assert.Equal(t, "general", m["channel"])
	assert.Equal(t, "flagger", m["username"])
	assert.Equal(t, ":rocket:", m["icon_emoji"])
	att := m["attachments"].([]any)[0].(map[string]any)
	assert.Nil(t, att["blocks"])
	assert.Equal(t, "podinfo.test", att["author_name"])
	assert.Equal(t, "Failed checks threshold reached 5 <&>", att["text"])
	assert.Equal(t, []any{"text"}, att["mrkdwn_in"])
	fields := att["fields"].([]any)
	require.Len(t, fields, 2)
	assert.Equal(t, "Field 0", fields[0].(map[string]any)["title"])
	assert.Equal(t, "value 0", fields[0].(map[string]any)["value"])
}
