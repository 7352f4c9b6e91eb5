package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// retryAfterServer answers its first request with status and a Retry-After header, the rest
// with 200, and records when each request came.
func retryAfterServer(t *testing.T, status int, retryAfter string) (string, func() []time.Time) {
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		first := len(at) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), at...)
	}
}

// A receiver that answers 429 or 503 with Retry-After asks to be left alone for that long:
// Flagger's client (go-retryablehttp) waits as asked before it retries, so a retry does not
// burn itself on a receiver still shedding load. The wait is bounded by RetryMaxInterval (a
// hostile Retry-After does not hold the hook for hours): see TestRetryAfterIsBounded.
func TestRetryAfterIsHonoured(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			url, times := retryAfterServer(t, status, "1")
			req := gateReq("h", canary.HookRollout, url)
			req.Hook.Retries = 1
			opts := fastRetries
			opts.RetryMaxInterval = 5 * time.Second
			ok, err := newClient(t, opts).Allow(context.Background(), req)
			require.NoError(t, err)
			assert.True(t, ok)
			at := times()
			require.Len(t, at, 2)
			assert.GreaterOrEqual(t, at[1].Sub(at[0]), 900*time.Millisecond, "the retry waited for Retry-After")
		})
	}
}

// Retry-After is honoured up to the longest retry pause, RetryMaxInterval; a value that is not
// a number of seconds or a date is ignored.
func TestRetryAfterIsBounded(t *testing.T) {
	for _, ra := range []string{"86400", "soon", "-5"} {
		t.Run(ra, func(t *testing.T) {
			url, times := retryAfterServer(t, http.StatusServiceUnavailable, ra)
			opts := fastRetries
			opts.RetryMaxInterval = 50 * time.Millisecond
			req := gateReq("h", canary.HookRollout, url)
			req.Hook.Retries = 1
			ok, err := newClient(t, opts).Allow(context.Background(), req)
			require.NoError(t, err)
			assert.True(t, ok)
			at := times()
			require.Len(t, at, 2)
			assert.Less(t, at[1].Sub(at[0]), time.Second)
		})
	}
}
