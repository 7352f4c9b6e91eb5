package webhook_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

// fastRetries keeps retry waits short; the tests never assert on how long anything took.
var fastRetries = webhook.Options{RetryInitialInterval: time.Millisecond, RetryMaxInterval: 2 * time.Millisecond}

func newClient(t *testing.T, opts webhook.Options) *webhook.Client {
	t.Helper()
	c, err := webhook.New(opts)
	require.NoError(t, err)
	return c
}

func gateReq(name string, typ canary.HookType, url string) canary.GateRequest {
	return canary.GateRequest{
		Hook:     canary.Webhook{Name: name, Type: typ, URL: url},
		Target:   podinfo,
		Phase:    canary.PhaseProgressing,
		Checksum: "v1",
	}
}

func TestAllowMapsStatusLikeFlagger(t *testing.T) {
	for _, tc := range []struct {
		status int
		ok     bool
	}{
		{200, true}, {201, true}, {202, true},
		{203, false}, {204, false}, {400, false}, {403, false}, {404, false}, {500, false},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			rc := &webhooktest.Receiver{Respond: webhooktest.Statuses(tc.status)}
			url := rc.Start(t)
			ok, err := newClient(t, fastRetries).Allow(context.Background(), gateReq("gate", canary.HookConfirmPromotion, url+"/gate/check"))
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var werr *webhook.Error
			require.ErrorAs(t, err, &werr)
			assert.ErrorIs(t, err, webhook.ErrStatus)
			assert.Equal(t, tc.status, werr.StatusCode)
			assert.Equal(t, 1, werr.Attempts)
		})
	}
}

func TestRequestIsAJSONPost(t *testing.T) {
	rc := &webhooktest.Receiver{}
	url := rc.Start(t)
	c := newClient(t, webhook.Options{Header: http.Header{"Authorization": {"Bearer t0ken"}}, HeaderHosts: []string{strings.TrimPrefix(url, "http://")}, UserAgent: "ci/1"})
	req := gateReq("load-test", canary.HookRollout, url+"/hooks?x=1")
	req.Hook.Metadata = map[string]string{"cmd": "hey"}
	ok, err := c.Allow(context.Background(), req)
	require.NoError(t, err)
	require.True(t, ok)

	got := rc.Requests()
	require.Len(t, got, 1)
	assert.Equal(t, "POST", got[0].Method)
	assert.Equal(t, "/hooks", got[0].Path)
	assert.Equal(t, "application/json", got[0].Header.Get("Content-Type"))
	assert.Equal(t, "Bearer t0ken", got[0].Header.Get("Authorization"))
	assert.Equal(t, "ci/1", got[0].Header.Get("User-Agent"))
	assert.Empty(t, got[0].Header.Get(webhook.SignatureHeader), "unsigned without a key")
	assert.Equal(t, webhook.Payload{Name: "podinfo", Namespace: "test", Phase: canary.PhaseProgressing, Checksum: "v1",
		Metadata: map[string]string{"cmd": "hey"}}, got[0].Payload)
}

func TestErrorsNameTheHookAndQuoteTheBody(t *testing.T) {
	body := "bash: line 1: token: command not found\n" + strings.Repeat("x", 4096)
	rc := &webhooktest.Receiver{Respond: func(int, webhooktest.Request) (int, string) { return 500, body }}
	url := rc.Start(t)
	_, err := newClient(t, fastRetries).Allow(context.Background(), gateReq("acceptance-test", canary.HookPreRollout, url+"/?token=secret"))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `webhook "acceptance-test" (pre-rollout) POST `+url+"/?…")
	assert.NotContains(t, msg, "secret", "query values may be tokens")
	assert.Contains(t, msg, "status 500 Internal Server Error")
	assert.Contains(t, msg, `body "bash: line 1: token: command not found\nxxx`)
	assert.Contains(t, msg, "… (truncated)")
	var werr *webhook.Error
	require.ErrorAs(t, err, &werr)
	assert.LessOrEqual(t, len(werr.Body), 512+len("… (truncated)"))

	// An empty body still gives a message that says what happened (Flagger: "error response: ").
	rc2 := &webhooktest.Receiver{Respond: func(int, webhooktest.Request) (int, string) { return 403, "" }}
	url2 := rc2.Start(t)
	_, err = newClient(t, fastRetries).Allow(context.Background(), gateReq("approval", canary.HookConfirmRollout, url2))
	assert.EqualError(t, err, `webhook "approval" (confirm-rollout) POST `+url2+`: status 403 Forbidden: empty body`)
}

func TestRetriesOn5xxAnd429Only(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []int
		retries  int
		ok       bool
		attempts int
	}{
		{"5xx then success", []int{503, 500, 200}, 2, true, 3},
		{"5xx exhausts retries", []int{503}, 2, false, 3},
		{"429 is retried", []int{429, 202}, 1, true, 2},
		{"4xx is final", []int{404, 200}, 3, false, 1},
		{"501 is final, as go-retryablehttp has it", []int{501, 200}, 3, false, 1},
		{"no retries by default", []int{503, 200}, 0, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &webhooktest.Receiver{Respond: webhooktest.Statuses(tc.statuses...)}
			req := gateReq("h", canary.HookRollout, rc.Start(t))
			req.Hook.Retries = tc.retries
			ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
			assert.Equal(t, tc.ok, ok)
			assert.Len(t, rc.Requests(), tc.attempts)
			if !tc.ok {
				var werr *webhook.Error
				require.ErrorAs(t, err, &werr)
				assert.Equal(t, tc.attempts, werr.Attempts)
				assert.Equal(t, tc.statuses[min(tc.attempts, len(tc.statuses))-1], werr.StatusCode)
			}
		})
	}
}

func TestRetriesConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String() + "/"
	require.NoError(t, ln.Close()) // nothing listens: connection refused

	req := gateReq("load-test", canary.HookRollout, url)
	req.Hook.Retries = 2
	ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
	assert.False(t, ok)
	var werr *webhook.Error
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, 3, werr.Attempts)
	assert.Zero(t, werr.StatusCode)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Contains(t, err.Error(), "connection refused (after 3 attempts)")
}

// hang never answers; it returns when the client goes away. (The server notices that only
// once the body has been read.)
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

func TestTimeoutBoundsEachAttempt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hang))
	t.Cleanup(srv.Close)
	req := gateReq("slow", canary.HookPreRollout, srv.URL)
	req.Hook.Timeout = 20 * time.Millisecond
	req.Hook.Retries = 1
	ok, err := newClient(t, fastRetries).Allow(context.Background(), req)
	assert.False(t, ok)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no response within the hook timeout 20ms")
	var werr *webhook.Error
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, 2, werr.Attempts, "a timed-out attempt is retried")
}

func TestCallerContextEndsTheCall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hang))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := gateReq("slow", canary.HookRollout, srv.URL)
	req.Hook.Retries = 5
	_, err := newClient(t, fastRetries).Allow(ctx, req)
	var werr *webhook.Error
	require.ErrorAs(t, err, &werr)
	assert.Equal(t, 1, werr.Attempts, "no retry once the caller's context is done")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestInvalidHook(t *testing.T) {
	c := newClient(t, webhook.Options{})
	for _, url := range []string{"", "flagger-loadtester.test/", "ftp://x/", "http://"} {
		_, err := c.Allow(context.Background(), gateReq("h", canary.HookRollout, url))
		assert.ErrorIs(t, err, webhook.ErrInvalidHook, url)
		assert.Contains(t, err.Error(), `webhook "h" (rollout)`)
	}
	_, err := c.Allow(context.Background(), gateReq("h", canary.HookRollout, ""))
	assert.EqualError(t, err, `webhook "h" (rollout): invalid webhook: no URL`)
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := webhook.New(webhook.Options{
		Transport:            http.DefaultTransport,
		TLS:                  webhook.TLSOptions{CA: []byte("not pem"), Cert: []byte("x")},
		SigningKey:           []byte("short"),
		RetryInitialInterval: -1,
	})
	require.ErrorIs(t, err, webhook.ErrInvalidOptions)
	for _, want := range []string{"TLS: not used with Transport", "TLS.CA", "TLS.Cert and TLS.Key", "SigningKey", "RetryInitialInterval"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = webhook.New(webhook.Options{RetryInitialInterval: time.Minute, RetryMaxInterval: time.Second})
	assert.ErrorIs(t, err, webhook.ErrInvalidOptions)
}

func TestPostReturnsTheResponse(t *testing.T) {
	lt := &webhooktest.LoadTester{}
	url := lt.Start(t)
	c := newClient(t, webhook.Options{})
	res, err := c.Post(context.Background(), canary.Webhook{Name: "open", URL: url + "/gate/open"},
		webhook.Payload{Name: "podinfo", Namespace: "test"})
	require.NoError(t, err)
	assert.Equal(t, webhook.Result{StatusCode: 202, Attempts: 1}, res)
	assert.True(t, lt.GateOpen("podinfo", "test"))

	res, err = c.Post(context.Background(), canary.Webhook{Name: "check", URL: url + "/gate/check"},
		webhook.Payload{Name: "podinfo", Namespace: "test"})
	require.NoError(t, err)
	assert.Equal(t, "Approved", res.Body)
	assert.False(t, errors.Is(err, webhook.ErrStatus))
}

// Options.Header goes only to HeaderHosts: a Canary's author writes the hook URLs, so a
// credential in it must not reach a host of theirs. A host without a port matches every port
// (a URL without one has its scheme's); a host with one, that port only.
func TestHeaderGoesOnlyToHeaderHosts(t *testing.T) {
	gate := &webhooktest.Receiver{}
	gateURL := gate.Start(t)
	other := &webhooktest.Receiver{}
	otherURL := strings.Replace(other.Start(t), "127.0.0.1", "localhost", 1)
	_, gatePort, _ := net.SplitHostPort(strings.TrimPrefix(gateURL, "http://"))
	for _, tc := range []struct {
		hosts         []string
		gate, toOther bool
	}{
		{hosts: []string{"127.0.0.1"}, gate: true},
		{hosts: []string{"127.0.0.1:" + gatePort}, gate: true},
		{hosts: []string{"127.0.0.1:1"}},
		{hosts: []string{"LOCALHOST"}, toOther: true},
		{hosts: []string{"gate.example.com", "127.0.0.1"}, gate: true},
	} {
		c := newClient(t, webhook.Options{Header: http.Header{"Authorization": {"Bearer t0ken"}}, HeaderHosts: tc.hosts})
		for _, u := range []string{gateURL, otherURL} {
			ok, err := c.Allow(context.Background(), gateReq("gate", canary.HookPreRollout, u+"/hook"))
			require.NoError(t, err)
			require.True(t, ok)
		}
		g, o := gate.Requests(), other.Requests()
		assert.Equal(t, tc.gate, g[len(g)-1].Header.Get("Authorization") != "", "%v to %s", tc.hosts, gateURL)
		assert.Equal(t, tc.toOther, o[len(o)-1].Header.Get("Authorization") != "", "%v to %s", tc.hosts, otherURL)
	}
}

// A Header without HeaderHosts, or a host that is not one, is refused when the Client is made.
func TestHeaderHostsAreRequiredAndChecked(t *testing.T) {
	_, err := webhook.New(webhook.Options{Header: http.Header{"Authorization": {"Bearer t0ken"}}})
	require.ErrorIs(t, err, webhook.ErrInvalidOptions)
	assert.ErrorContains(t, err, "HeaderHosts: required with Header")
	for _, h := range []string{"", "http://gate", "gate/path", "user@gate", "gate:", ":80"} {
		_, err := webhook.New(webhook.Options{Header: http.Header{"X": {"y"}}, HeaderHosts: []string{h}})
		assert.ErrorContains(t, err, "HeaderHosts[0]", "%q", h)
	}
	_, err = webhook.New(webhook.Options{Header: http.Header{"X": {"y"}}, HeaderHosts: []string{"gate.example.com:8443", "[::1]", "10.0.0.1:80"}})
	assert.NoError(t, err)
}
