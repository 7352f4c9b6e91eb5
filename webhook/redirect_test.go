package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
)

// A hook that answers 307 or 308 towards another host would have the client re-send the body
// and its signature there: the client refuses, at once and without retrying.
func TestCrossHostRedirectCarriesNothing(t *testing.T) {
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var stolen atomic.Int32
			attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				stolen.Add(1)
			}))
			defer attacker.Close()
			var asked atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				http.Redirect(w, r, attacker.URL+"/collect", status)
			}))
			defer hook.Close()
			opts := fastRetries
			opts.SigningKey = []byte(strings.Repeat("k", webhook.MinKeyLength))
			req := gateReq("gate", canary.HookConfirmPromotion, hook.URL+"/gate")
			req.Hook.Retries = 3
			ok, err := newClient(t, opts).Allow(context.Background(), req)
			assert.False(t, ok)
			require.ErrorIs(t, err, webhook.ErrRedirect)
			assert.Zero(t, stolen.Load(), "the other host received a request")
			assert.Equal(t, int32(1), asked.Load(), "a refused redirect is final")
			assert.NotContains(t, err.Error(), "/collect", "the refused location is named by its host only")
		})
	}
}

// A redirect on the same host is followed, body and signature included.
func TestSameHostRedirectIsFollowed(t *testing.T) {
	var signed, body atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		signed.Store(r.Header.Get(webhook.SignatureHeader))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	opts := fastRetries
	opts.SigningKey = []byte(strings.Repeat("k", webhook.MinKeyLength))
	ok, err := newClient(t, opts).Allow(context.Background(), gateReq("gate", canary.HookConfirmPromotion, srv.URL+"/old"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Contains(t, body.Load(), `"name":"podinfo"`)
	assert.NotEmpty(t, signed.Load())
}

// Retries are bounded whatever the hook asks: a hook failing with 503 is tried
// canary.MaxHookRetries + 1 times at most.
func TestRetriesAreBounded(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	req := gateReq("gate", canary.HookRollout, srv.URL)
	req.Hook.Retries = 100000000
	ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
	assert.False(t, ok)
	require.ErrorIs(t, err, webhook.ErrStatus)
	assert.Equal(t, int32(canary.MaxHookRetries+1), asked.Load())
}
