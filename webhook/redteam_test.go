package webhook_test

import (
	"context"
	"net"
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

// A user name in a hook URL is often the credential itself ("https://<token>@host/", basic
// auth with the token as user): it must stay out of the error, hence out of the events, as
// canary.RedactURL keeps it out of validation messages.
func TestRedteamUserNameInHookURLStaysOutOfErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: the call fails to connect
	c := newClient(t, fastRetries)
	for _, raw := range []string{
		"http://s3cret@" + addr + "/gate/check",
		"http://s3cret:@" + addr + "/gate/check",
		"http://s3cret:pass@" + addr + "/gate/check",
	} {
		_, err := c.Post(context.Background(), canary.Webhook{Name: "gate", Type: canary.HookConfirmRollout, URL: raw}, webhook.Payload{})
		var werr *webhook.Error
		require.ErrorAs(t, err, &werr)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.NotContains(t, werr.URL, "s3cret")
		assert.Contains(t, werr.URL, addr+"/gate/check", "the rest of the URL is shown")
	}
}
