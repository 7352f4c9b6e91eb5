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

// roundTripFunc answers requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func answer(r *http.Request, status int, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}
}

// A hook URL on http whose host redirects to itself on https (an ingress that enforces TLS:
// Flagger follows it) is followed: the body and its signature go to the very host the URL
// names, over TLS. A default port written out is the same origin as none. A redirect to https
// on another port, or from https down to http, is still refused.
func TestRedirectToTheSameOriginIsFollowed(t *testing.T) {
	for _, tc := range []struct {
		url, location string
		followed      bool
	}{
		{"http://hooks.example/gate", "https://hooks.example/gate", true},
		{"http://hooks.example:80/gate", "https://hooks.example/gate", true},
		{"http://hooks.example/gate", "https://HOOKS.example:443/gate", true},
		{"http://hooks.example:80/gate", "http://hooks.example/new", true},
		{"https://hooks.example/gate", "https://hooks.example:443/new", true},
		{"http://hooks.example/gate", "https://hooks.example:8443/gate", false},
		{"http://hooks.example:8080/gate", "https://hooks.example/gate", false},
		{"https://hooks.example/gate", "http://hooks.example/gate", false},
		{"http://hooks.example/gate", "https://other.example/gate", false},
	} {
		t.Run(tc.url+" to "+tc.location, func(t *testing.T) {
			var reached atomic.Value
			opts := fastRetries
			opts.SigningKey = []byte(strings.Repeat("k", webhook.MinKeyLength))
			opts.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.URL.String() == tc.url {
					return answer(r, http.StatusPermanentRedirect, http.Header{"Location": {tc.location}}), nil
				}
				b, _ := io.ReadAll(r.Body)
				reached.Store(r.URL.String() + " " + string(b) + " " + r.Header.Get(webhook.SignatureHeader))
				return answer(r, http.StatusOK, nil), nil
			})
			ok, err := newClient(t, opts).Allow(context.Background(), gateReq("gate", canary.HookConfirmPromotion, tc.url))
			if !tc.followed {
				require.ErrorIs(t, err, webhook.ErrRedirect)
				assert.False(t, ok)
				assert.Nil(t, reached.Load(), "nothing reaches the other origin")
				return
			}
			require.NoError(t, err)
			assert.True(t, ok)
			got, _ := reached.Load().(string)
			assert.Contains(t, got, `"name":"podinfo"`)
			assert.Contains(t, got, webhook.SignaturePrefix)
		})
	}
}

// A redirect loop on the same host ends after a bounded number of redirects, and is final: a
// retry would loop again (go-retryablehttp does not retry it either).
func TestRedirectLoopIsFinal(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, "/again", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	req := gateReq("gate", canary.HookConfirmPromotion, srv.URL+"/gate")
	req.Hook.Retries = 3
	ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
	assert.False(t, ok)
	var werr *webhook.Error
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, 1, werr.Attempts)
	assert.Contains(t, err.Error(), "redirects")
	assert.LessOrEqual(t, asked.Load(), int32(10))
}
