package notify_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/notify"
)

// An Office 365 connector (a legacy Teams Incoming Webhook) answers 200 to a message Teams
// did not take, the error in the text of the answer: that is a failed delivery, in either
// format, not a sent alert.
func TestTeamsConnectorRefusalIsAFailure(t *testing.T) {
	const refusal = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc1-4-170,cv=deadbeef.0.."
	for _, format := range []notify.TeamsFormat{notify.TeamsAdaptiveCard, notify.TeamsMessageCard} {
		t.Run(string(format), func(t *testing.T) {
			rc, url := receive(t, http.StatusOK, refusal)
			n, err := notify.NewTeams(notify.TeamsConfig{URL: url + "/webhookb2/g@t/IncomingWebhook/s3cret/o", Format: format})
			require.NoError(t, err)
			err = n.Notify(context.Background(), sample(notify.SeverityError, 2))
			require.Len(t, rc.Requests(), 1)
			require.ErrorIs(t, err, notify.ErrRefused)
			assert.Contains(t, err.Error(), "returned HTTP error 429")
			assert.NotContains(t, err.Error(), "s3cret", "the webhook URL is named by its host only")
		})
	}
}

// What Teams answers to a message it took is still a delivery: a connector's "1", a
// Workflows webhook's empty 202, and any other text, which Teams does not document as a
// refusal.
func TestTeamsAcceptedAnswersAreDeliveries(t *testing.T) {
	for _, answer := range []struct {
		status int
		body   string
	}{{http.StatusOK, "1"}, {http.StatusAccepted, ""}, {http.StatusOK, `{"ok":false}`}, {http.StatusOK, "delivery failed"}} {
		_, url := receive(t, answer.status, answer.body)
		n, err := notify.NewTeams(notify.TeamsConfig{URL: url + "/workflows/trigger"})
		require.NoError(t, err)
		assert.NoError(t, n.Notify(context.Background(), sample(notify.SeverityInfo, 0)), "%d %q", answer.status, answer.body)
	}
}
