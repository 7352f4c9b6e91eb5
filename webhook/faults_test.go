package webhook_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
)

// Hook servers that misbehave: the tests assert on attempts and errors, never on how long
// anything took.

// resetting reads each request and then drops the connection without answering: a plain close
// (the client reads EOF) or, with rst, an abortive close (the client reads a TCP reset).
func resetting(t *testing.T, rst bool) (url string, requests *atomic.Int32) {
	requests = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok && rst {
			_ = tc.SetLinger(0) // close sends RST
		}
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

func TestConnectionResetIsAFailedCallRetriedAsConfigured(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rst   bool
		cause string
	}{
		{"closed without an answer", false, "EOF"},
		{"reset", true, "connection reset by peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, requests := resetting(t, tc.rst)
			req := gateReq("acceptance-test", canary.HookPreRollout, url)
			req.Hook.Retries = 3
			ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
			assert.False(t, ok)
			var werr *webhook.Error
			require.ErrorAs(t, err, &werr)
			assert.Equal(t, 4, werr.Attempts, "one call and its three retries")
			assert.EqualValues(t, 4, requests.Load(), "each attempt reached the server once")
			assert.Zero(t, werr.StatusCode, "no answer came")
			if tc.rst {
				assert.ErrorIs(t, err, syscall.ECONNRESET)
			}
			assert.Contains(t, err.Error(), `webhook "acceptance-test" (pre-rollout) POST `+url)
			assert.Contains(t, err.Error(), tc.cause)
			assert.Contains(t, err.Error(), "(after 4 attempts)")
		})
	}
}

// stalling answers 200 at once and then never sends the body it announced, until the client
// goes away.
func stalling(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Length", "100")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"partial":`)
	http.NewResponseController(w).Flush() //nolint:errcheck // best effort
	<-r.Context().Done()
}

// An answer whose headers come in time but whose body does not is bounded by the hook's
// timeout too, and is not a success: the hook did not finish answering.
func TestStalledBodyIsBoundedByTheTimeoutAndFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(stalling))
	t.Cleanup(srv.Close)
	req := gateReq("load-test", canary.HookRollout, srv.URL)
	req.Hook.Timeout = 30 * time.Millisecond
	req.Hook.Retries = 1
	ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
	assert.False(t, ok, "a 200 whose body never came is not a pass")
	var werr *webhook.Error
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, 2, werr.Attempts, "a stalled answer is retried")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no response within the hook timeout 30ms")
}

// A body cut short by the server (fewer bytes than announced, then the connection closed) is
// a failed attempt, not a pass.
func TestTruncatedBodyFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"ok\":")
		_ = buf.Flush()
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	req := gateReq("acceptance-test", canary.HookPreRollout, srv.URL)
	ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
	assert.False(t, ok, "a 200 whose body was cut short is not a pass")
	require.Error(t, err)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "reading the response body")
}

// A hook answering slowly but within its timeout passes: the timeout bounds, it does not
// race the answer.
func TestSlowAnswerWithinTheTimeoutPasses(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if requests.Add(1) == 1 {
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush() //nolint:errcheck // best effort
			<-release                             // the body comes only when the test says so
			_, _ = io.WriteString(w, "done")
		}
	}))
	t.Cleanup(srv.Close)
	req := gateReq("load-test", canary.HookRollout, srv.URL)
	req.Hook.Timeout = time.Hour
	type answer struct {
		ok  bool
		err error
	}
	got := make(chan answer, 1)
	c := newClient(t, fastRetries)
	go func() {
		ok, err := c.Allow(context.Background(), req)
		got <- answer{ok, err}
	}()
	require.Eventually(t, func() bool { return requests.Load() == 1 }, time.Minute, time.Millisecond)
	close(release)
	a := <-got
	assert.NoError(t, a.err)
	assert.True(t, a.ok)
	assert.EqualValues(t, 1, requests.Load())
}

// TestAbortEndsAHookWithManyRetries runs a release through a real Rollout whose pre-rollout
// hook (the real Client) has the most retries allowed against a server that hangs, or that
// fails at once with a long wait before each retry. Abort ends the release: the attempt in
// flight is cancelled (the server sees its client go away) and no further attempt reaches
// the server.
func TestAbortEndsAHookWithManyRetries(t *testing.T) {
	for _, tc := range []struct {
		name string
		hang bool
	}{
		{"during an attempt", true},
		{"while waiting to retry", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			first, gone := make(chan struct{}), make(chan struct{})
			url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if requests.Add(1) > 1 {
					return
				}
				close(first)
				if !tc.hang {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				<-r.Context().Done() // the client went away
				close(gone)
			}))
			w := newWorld()
			spec := seedSpec(canary.Webhook{Name: "slow", Type: canary.HookPreRollout, URL: url,
				Timeout: time.Hour, Retries: canary.MaxHookRetries})
			cfg := w.env.Config(spec)
			// an hour before each retry: only Abort can end the call in this test's life
			cfg.Webhooks = newClient(t, webhook.Options{RetryInitialInterval: time.Hour, RetryMaxInterval: time.Hour})
			r, err := canary.New(cfg)
			require.NoError(t, err)
			ctx := context.Background()
			res, err := r.Run(ctx)
			require.NoError(t, err)
			require.Equal(t, canary.PhaseInitialized, res.Phase)
			w.env.Workload.SetRevision("v1")

			done := make(chan canary.Result, 1)
			go func() {
				res, err := r.Run(ctx)
				assert.NoError(t, err)
				done <- res
			}()
			<-first
			r.Abort()
			select {
			case res = <-done:
			case <-time.After(time.Minute): // a guard against hanging, not a measure
				t.Fatal("Abort did not end the release")
			}
			assert.Equal(t, canary.PhaseFailed, res.Phase)
			assert.Equal(t, canary.CauseAborted, res.Cause, res.Reason)
			assert.EqualValues(t, 1, requests.Load(), "no attempt after Abort")
			if tc.hang {
				// the attempt in flight was cancelled by Abort (its hour-long timeout had not run out)
				select {
				case <-gone:
				case <-time.After(time.Minute):
					t.Fatal("the server's request was not cancelled")
				}
			}
			assert.Equal(t, "v0", w.env.Workload.PrimaryRevision(), "nothing promoted")
		})
	}
}
