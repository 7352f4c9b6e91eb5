package notify_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/notify"
)

// Slack's Web API (chat.postMessage, which the driver uses for a token without an address)
// answers 200 to a message it refuses, with {"ok": false, "error": ...}: that is a failed
// delivery, not a delivered one.
func TestRedteamSlackAPIRefusalIsAFailure(t *testing.T) {
	rc, url := receive(t, 200, `{"ok":false,"error":"channel_not_found","warning":"missing_charset","response_metadata":{"warnings":["missing_charset"]}}`)
	s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/api/chat.postMessage", Token: "xoxb-1", Channel: "C404"})
	require.NoError(t, err)
	err = s.Notify(context.Background(), sample(notify.SeverityError, 0))
	require.Len(t, rc.Requests(), 1)
	require.Error(t, err)
	require.ErrorIs(t, err, notify.ErrRefused)
	assert.Contains(t, err.Error(), `error "channel_not_found"`)
	assert.NotContains(t, err.Error(), "xoxb-1")

	// Slack's answers that accept the message, JSON or text, are still deliveries.
	for _, body := range []string{`{"ok":true,"channel":"C1","ts":"1.2"}`, "ok", ""} {
		_, url := receive(t, 200, body)
		s, err := notify.NewSlack(notify.SlackConfig{URL: url + "/api/chat.postMessage", Token: "xoxb-1", Channel: "C1"})
		require.NoError(t, err)
		assert.NoError(t, s.Notify(context.Background(), sample(notify.SeverityInfo, 0)), body)
	}
}
