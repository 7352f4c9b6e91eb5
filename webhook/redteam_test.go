package webhook_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
)

// A hook URL the client refuses (it does not parse, or is not http(s)) must not be quoted
// whole in the error: its userinfo and query values are credentials.
func TestRedteamInvalidHookURLKeepsCredentialsOut(t *testing.T) {
	c := newClient(t, fastRetries)
	for _, raw := range []string{
		"http://user:s3cret@loadtester.test:80x80/",    // bad port
		"http://user:s3cret@loadtester.test/%zz",       // bad escape
		"ftp://user:s3cret@loadtester.test/",           // not http(s)
		"http://loadtester.test:bad/?token=s3cret",     // bad port, token in the query
		"http://tok s3cret@loadtester.test/gate/check", // bad userinfo
	} {
		t.Run(raw, func(t *testing.T) {
			_, err := c.Post(context.Background(), canary.Webhook{Name: "gate", Type: canary.HookConfirmRollout, URL: raw}, webhook.Payload{})
			require.ErrorIs(t, err, webhook.ErrInvalidHook)
			assert.NotContains(t, err.Error(), "s3cret")
			var werr *webhook.Error
			require.ErrorAs(t, err, &werr)
			assert.NotContains(t, werr.URL, "s3cret")
		})
	}
}
