package driver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/notify"
)

// Rocket.Chat's incoming webhooks take Slack's attachments (author, text, fields), not Block
// Kit: an AlertProvider of type rocket gets Flagger's attachment, with its channel and
// username, so that the message and its fields show.
func TestRocketAlertIsAnAttachment(t *testing.T) {
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- b:
		default: // one alert expected; another is not kept
		}
	}))
	t.Cleanup(srv.Close)
	s := testDriver(fake.NewClientset())
	ctx := context.Background()
	nt, err := s.notifier(ctx, flagger.AlertProvider{Name: "rocket", Namespace: "flagger", Type: "rocket",
		Channel: "general", Username: "flagger", Address: srv.URL + "/hooks/x"})
	require.NoError(t, err)
	n := notify.Notification{Severity: notify.SeverityError, Target: canary.Target{Namespace: "test", Name: "podinfo"},
		Message: "Failed checks threshold reached 5", Fields: []notify.Field{{Name: "Canary weight", Value: "20"}}}
	require.NoError(t, nt.Notify(ctx, n))
	body := <-bodies

	var m struct {
		Channel, Username string
		Attachments       []struct {
			AuthorName string `json:"author_name"`
			Text       string
			Blocks     []any
			Fields     []struct{ Title, Value string }
		}
	}
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	assert.Equal(t, "general", m.Channel)
	assert.Equal(t, "flagger", m.Username)
	require.Len(t, m.Attachments, 1)
	a := m.Attachments[0]
	assert.Equal(t, "podinfo.test", a.AuthorName)
	assert.Equal(t, "Failed checks threshold reached 5", a.Text)
	assert.Empty(t, a.Blocks, "no Block Kit: Rocket.Chat does not render it")
	require.Len(t, a.Fields, 1)
	assert.Equal(t, "Canary weight", a.Fields[0].Title)
	assert.Equal(t, "20", a.Fields[0].Value)
}
