package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/canary"
)

// ddFake stands in for Datadog's v1 query API (there is no real Datadog on the test bed): it
// answers GET /api/v1/query with the answers given, one per request (the last repeats), and
// records each request.
type ddFake struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []*http.Request
	answers []ddAnswer
}

type ddAnswer struct {
	code int
	body string
}

func newDDFake(t *testing.T, answers ...ddAnswer) *ddFake {
	t.Helper()
	f := &ddFake{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, r.Clone(context.Background()))
		a := f.answers[min(n, len(f.answers)-1)]
		f.mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/query" {
			http.Error(w, `{"errors": ["not found"]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.code)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *ddFake) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.reqs...)
}

// ddNow is the fake clock's time in the Datadog tests.
var ddNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestDD(t *testing.T, address string, opts DatadogOptions) *Datadog {
	t.Helper()
	opts.Address = address
	if opts.APIKey == "" {
		opts.APIKey, opts.ApplicationKey = "api-key", "app-key"
	}
	opts.Clock = clocktesting.NewFakePassiveClock(ddNow)
	d, err := NewDatadog(opts)
	require.NoError(t, err)
	d.newBackOff = func() backoff.BackOff {
		return backoff.WithMaxRetries(backoff.NewConstantBackOff(time.Millisecond), 4)
	}
	return d
}

const ddOneSeries = `{"status":"ok","series":[{"expression":"sum:requests{service:web}","scope":"service:web",
	"pointlist":[[1767322800000,1.5],[1767322860000,2.5],[1767322920000,null]]}]}`

func TestDatadogQuery(t *testing.T) {
	f := newDDFake(t, ddAnswer{200, ddOneSeries})
	d := newTestDD(t, f.URL, DatadogOptions{Window: 10 * time.Minute})
	v, err := d.Query(context.Background(), "sum:requests{service:web}.as_count()")
	require.NoError(t, err)
	assert.Equal(t, 2.5, v, "the most recent non-null point")

	reqs := f.requests()
	require.Len(t, reqs, 1)
	q := reqs[0].URL.Query()
	assert.Equal(t, "sum:requests{service:web}.as_count()", q.Get("query"))
	assert.Equal(t, "1767322445", q.Get("from"), "now - Window")
	assert.Equal(t, "1767323045", q.Get("to"), "now")
	assert.Equal(t, "api-key", reqs[0].Header.Get("DD-API-KEY"))
	assert.Equal(t, "app-key", reqs[0].Header.Get("DD-APPLICATION-KEY"))
}

func TestDatadogQueryResults(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		want error
		text string
	}{
		"no series":   {`{"status":"ok","series":[]}`, canary.ErrNoData, "no series"},
		"only nulls":  {`{"status":"ok","series":[{"pointlist":[[1,null],[2,null]]}]}`, canary.ErrNoData, "no non-null point in 2"},
		"no points":   {`{"status":"ok","series":[{"pointlist":[]}]}`, canary.ErrNoData, "no non-null point"},
		"two series":  {`{"status":"ok","series":[{"expression":"a","scope":"host:x","pointlist":[[1,1]]},{"expression":"a","scope":"host:y","pointlist":[[1,2]]}]}`, ErrMultipleSeries, "2 series, want 1"},
		"not a pair":  {`{"status":"ok","series":[{"pointlist":[[1]]}]}`, ErrUnexpectedResult, "not [timestamp, value]"},
		"not json":    {`<html>login</html>`, ErrUnexpectedResult, "not Datadog's query answer"},
		"error in ok": {`{"status":"error","error":"Error parsing query: unexpected token"}`, nil, "error: Error parsing query: unexpected token"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newDDFake(t, ddAnswer{200, tc.body})
			d := newTestDD(t, f.URL, DatadogOptions{})
			_, err := d.Query(context.Background(), "avg:x{*}")
			require.Error(t, err)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, "avg:x{*}", qe.Query)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.Contains(t, err.Error(), tc.text)
			assert.NotErrorIs(t, err, canary.ErrUnavailable)
			assert.Len(t, f.requests(), 1, "not retried")
		})
	}
}

func TestDatadogRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		code int
		body string
		text string
	}{
		"400": {400, `{"errors": ["Error parsing query: ", "unexpected end"]}`, "client_error: 400: Error parsing query: ; unexpected end"},
		"403": {403, `{"errors": ["Forbidden"]}`, "client_error: 403: Forbidden"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newDDFake(t, ddAnswer{tc.code, tc.body})
			d := newTestDD(t, f.URL, DatadogOptions{})
			_, err := d.Query(context.Background(), "avg:x{*}")
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, "client_error", qe.Type)
			assert.Equal(t, 1, qe.Attempts)
			assert.Contains(t, err.Error(), tc.text)
			assert.NotErrorIs(t, err, canary.ErrUnavailable)
			assert.Len(t, f.requests(), 1)
		})
	}
}

func TestDatadogRetriesThrottling(t *testing.T) {
	f := newDDFake(t, ddAnswer{429, `{"errors": ["Rate limit exceeded"]}`}, ddAnswer{200, ddOneSeries})
	d := newTestDD(t, f.URL, DatadogOptions{})
	v, err := d.Query(context.Background(), "avg:x{*}")
	require.NoError(t, err)
	assert.Equal(t, 2.5, v)
	assert.Len(t, f.requests(), 2)
}

func TestDatadogUnavailable(t *testing.T) {
	f := newDDFake(t, ddAnswer{503, `{"errors": ["Service unavailable"]}`})
	d := newTestDD(t, f.URL, DatadogOptions{})
	_, err := d.Query(context.Background(), "avg:x{*}")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, canary.ErrUnavailable)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, 5, qe.Attempts, "the first attempt and the schedule's 4 retries")
	assert.Equal(t, "server_error", qe.Type)
	assert.Contains(t, err.Error(), "Datadog at "+f.URL+" failed: server_error: 503: Service unavailable (5 attempts): query avg:x{*}")
	assert.Len(t, f.requests(), 5)
}

func TestDatadogUnreachable(t *testing.T) {
	f := newDDFake(t, ddAnswer{200, ddOneSeries})
	addr := f.URL
	f.Close()
	d := newTestDD(t, addr, DatadogOptions{})
	_, err := d.Query(context.Background(), "avg:x{*}")
	assert.ErrorIs(t, err, canary.ErrUnavailable)
	assert.Contains(t, err.Error(), "could not reach Datadog at "+addr)
	assert.NotContains(t, ErrUnavailable.Error(), "prometheus", "the sentinel names no one provider")
	assert.Equal(t, "metrics server unavailable", ErrUnavailable.Error())
}

// A redirect to another server does not carry the keys; the query still runs there.
func TestDatadogRedirectKeepsKeys(t *testing.T) {
	other := newDDFake(t, ddAnswer{200, ddOneSeries})
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	d := newTestDD(t, redirector.URL, DatadogOptions{})
	v, err := d.Query(context.Background(), "avg:x{*}")
	require.NoError(t, err)
	assert.Equal(t, 2.5, v)
	reqs := other.requests()
	require.Len(t, reqs, 1)
	assert.Empty(t, reqs[0].Header.Values("DD-API-KEY"))
	assert.Empty(t, reqs[0].Header.Values("DD-APPLICATION-KEY"))
	assert.Equal(t, "avg:x{*}", reqs[0].URL.Query().Get("query"))
}

func TestDatadogOversizedAnswer(t *testing.T) {
	big := `{"status":"ok","series":[{"expression":"` + strings.Repeat("x", MaxResponseBytes) + `","pointlist":[[1,1]]}]}`
	f := newDDFake(t, ddAnswer{200, big})
	d := newTestDD(t, f.URL, DatadogOptions{})
	_, err := d.Query(context.Background(), "avg:x{*}")
	assert.ErrorIs(t, err, ErrUnexpectedResult)
	assert.Contains(t, err.Error(), "larger than")
	assert.Len(t, f.requests(), 1, "not retried")

	long := `{"errors": ["` + strings.Repeat("e", 3*MaxErrorTextBytes) + `"]}`
	f = newDDFake(t, ddAnswer{400, long})
	d = newTestDD(t, f.URL, DatadogOptions{})
	_, err = d.Query(context.Background(), "avg:x{*}")
	require.Error(t, err)
	assert.Less(t, len(err.Error()), MaxErrorTextBytes+200)
	assert.Contains(t, err.Error(), "more bytes)")
}

func TestNewDatadogOptions(t *testing.T) {
	d, err := NewDatadog(DatadogOptions{APIKey: "a", ApplicationKey: "b"})
	require.NoError(t, err)
	assert.Equal(t, "https://api.datadoghq.com/api/v1/query", d.endpoint.String())
	assert.Equal(t, DefaultDatadogWindow, d.window)
	assert.Equal(t, 10*time.Minute, DefaultDatadogWindow)
	assert.Equal(t, 50*time.Minute, DatadogWindow(5*time.Minute))

	_, err = NewDatadog(DatadogOptions{Address: "ftp://x", ApplicationKey: "b\nc", Window: -time.Second, Timeout: -1,
		Transport: http.DefaultTransport, InsecureSkipVerify: true})
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, p := range []string{"Address: must be an absolute http(s) URL", "APIKey: required", "ApplicationKey: must not contain line breaks",
		"Window: must not be negative", "Timeout: must not be negative", "Transport: cannot be combined with CA or InsecureSkipVerify"} {
		assert.Contains(t, err.Error(), p)
	}
	assert.False(t, errors.Is(err, canary.ErrUnavailable))
}
