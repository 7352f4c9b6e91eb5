package metrics

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

func TestPrometheusQueryResults(t *testing.T) {
	pod := func(name string) map[string]string { return map[string]string{"pod": name, "namespace": "test"} }
	for _, tc := range []struct {
		name    string
		body    string
		want    float64
		wantErr error
		msg     []string
	}{
		{name: "scalar", body: scalarJSON("42.5"), want: 42.5},
		{name: "one series", body: vectorJSON(series{pod("a"), "99.5"}), want: 99.5},
		{name: "+Inf is a value", body: vectorJSON(series{pod("a"), "+Inf"}), want: math.Inf(1)},
		{name: "empty vector", body: vectorJSON(), wantErr: canary.ErrNoData, msg: []string{"empty result", "query sum(x)"}},
		{name: "NaN", body: vectorJSON(series{pod("a"), "NaN"}), wantErr: canary.ErrNoData, msg: []string{"NaN", "query sum(x)"}},
		{name: "NaN scalar", body: scalarJSON("NaN"), wantErr: canary.ErrNoData},
		{name: "several series", body: vectorJSON(series{pod("a"), "1"}, series{pod("b"), "2"}, series{pod("c"), "3"}, series{pod("d"), "4"}),
			wantErr: ErrMultipleSeries, msg: []string{"4 series, want 1", `pod="a"`, `pod="c"`, "and 1 more", "query sum(x)"}},
		{name: "matrix", body: matrixJSON("1", "2"), wantErr: ErrUnexpectedResult, msg: []string{"range vector"}},
		{name: "string", body: successJSON("string", []any{1767225600, "hello"}), wantErr: ErrUnexpectedResult, msg: []string{"string"}},
		{name: "not JSON", body: "<html>login</html>", wantErr: ErrUnexpectedResult, msg: []string{"bad_response"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPromFake(t, always(200, tc.body))
			p := newTestProm(t, f.URL, PrometheusOptions{})
			v, err := p.Query(ctxFor(t, time.Minute), "sum(x)")
			if tc.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.want, v)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, "sum(x)", qe.Query)
			for _, m := range tc.msg {
				assert.Contains(t, err.Error(), m)
			}
			assert.Len(t, f.requests(), 1, "an answer is not retried")
		})
	}
}

func TestPrometheusSendsCompactQueryWithTimeout(t *testing.T) {
	f := newPromFake(t, always(200, scalarJSON("1")))
	p := newTestProm(t, f.URL, PrometheusOptions{Timeout: 3 * time.Second})
	_, err := p.Query(ctxFor(t, time.Minute), Linkerd()[RequestSuccessRate]+"\n\t ")
	require.NoError(t, err)
	r := f.requests()[0]
	assert.Equal(t, "/api/v1/query", r.Path)
	assert.Equal(t, Linkerd()[RequestSuccessRate], r.Form["query"])
	assert.Equal(t, "3s", r.Form["timeout"], "the attempt timeout bounds Prometheus' evaluation too")
}

func TestPrometheusBadQueryIsPermanent(t *testing.T) {
	const promMsg = `1:5: parse error: unexpected "}" in label matching`
	for _, tc := range []struct {
		status int
		typ    string
	}{{400, "bad_data"}, {422, "execution"}} {
		t.Run(tc.typ, func(t *testing.T) {
			f := newPromFake(t, always(tc.status, errorJSON(tc.typ, promMsg)))
			p := newTestProm(t, f.URL, PrometheusOptions{})
			_, err := p.Query(ctxFor(t, time.Minute), `sum(rate(x{a="b"}}[1m]))`)
			require.Error(t, err)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, tc.typ, qe.Type)
			assert.Equal(t, 1, qe.Attempts)
			assert.Len(t, f.requests(), 1)
			assert.Contains(t, err.Error(), tc.typ+": "+promMsg, "Prometheus' own error type and text")
			assert.Contains(t, err.Error(), `query sum(rate(x{a="b"}}[1m]))`, "the resolved query")
			assert.NotErrorIs(t, err, ErrUnavailable)
		})
	}
}

func TestPrometheusRetriesTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"prometheus timeout", 503, errorJSON("timeout", "query timed out in expression evaluation")},
		{"proxy 502", 502, "<html>bad gateway</html>"},
		{"internal", 500, errorJSON("internal", "something broke")},
		{"too many requests", 429, "slow down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPromFake(t, func(n int, _ request) (int, string) {
				if n <= 2 {
					return tc.status, tc.body
				}
				return 200, scalarJSON("7")
			})
			p := newTestProm(t, f.URL, PrometheusOptions{})
			v, err := p.Query(ctxFor(t, time.Minute), "sum(x)")
			require.NoError(t, err)
			assert.Equal(t, 7.0, v)
			assert.Len(t, f.requests(), 3)
		})
	}
}

func TestPrometheusGivesUpWithinTheBudget(t *testing.T) {
	f := newPromFake(t, always(503, errorJSON("timeout", "query timed out in expression evaluation")))
	p := newTestProm(t, f.URL, PrometheusOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := p.Query(ctx, "sum(x)")
	require.ErrorIs(t, err, ErrUnavailable)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "timeout", qe.Type, "the type from the body of the 503")
	assert.Greater(t, qe.Attempts, 1)
	// The last attempt may be cut short by the deadline before it reaches the server.
	assert.InDelta(t, len(f.requests()), qe.Attempts, 1)
	assert.Contains(t, err.Error(), "query timed out in expression evaluation")
	assert.Contains(t, err.Error(), "query sum(x)")
}

func TestPrometheusUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more: connection refused
	p := newTestProm(t, addr, PrometheusOptions{RetryTimeout: 200 * time.Millisecond})
	_, err := p.Query(context.Background(), "up") // no deadline: RetryTimeout bounds it
	require.ErrorIs(t, err, ErrUnavailable)
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Greater(t, qe.Attempts, 1)
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, err.Error(), "query up")
}

func TestPrometheusAttemptTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := newPromFake(t, func(n int, _ request) (int, string) {
		if n == 1 {
			<-release // hang until the test ends; the attempt times out first
		}
		return 200, scalarJSON("3")
	})
	p := newTestProm(t, f.URL, PrometheusOptions{Timeout: 100 * time.Millisecond})
	v, err := p.Query(ctxFor(t, time.Minute), "sum(x)")
	require.NoError(t, err)
	assert.Equal(t, 3.0, v)
}

func TestPrometheusCanceledContext(t *testing.T) {
	f := newPromFake(t, always(200, scalarJSON("1")))
	p := newTestProm(t, f.URL, PrometheusOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Query(ctx, "sum(x)")
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrUnavailable, "the caller gave up, not the server")
	assert.Contains(t, err.Error(), "query sum(x)")
}

func TestPrometheusClientErrorsArePermanent(t *testing.T) {
	f := newPromFake(t, always(401, "unauthorized"))
	p := newTestProm(t, f.URL, PrometheusOptions{})
	_, err := p.Query(ctxFor(t, time.Minute), "up")
	require.Error(t, err)
	assert.Len(t, f.requests(), 1)
	assert.Contains(t, err.Error(), "401")
}

func TestPrometheusAuthAndHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts PrometheusOptions
		want map[string]string
	}{
		{"bearer", PrometheusOptions{Credentials: Credentials{BearerToken: "s3cr3t"}},
			map[string]string{"Authorization": "Bearer s3cr3t"}},
		{"basic", PrometheusOptions{Credentials: Credentials{Username: "flagger", Password: "pw"}},
			map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("flagger:pw"))}},
		{"headers", PrometheusOptions{Headers: http.Header{"X-Scope-Orgid": {"tenant-1"}}, Credentials: Credentials{BearerToken: "t"}},
			map[string]string{"X-Scope-Orgid": "tenant-1", "Authorization": "Bearer t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPromFake(t, always(200, scalarJSON("1")))
			p := newTestProm(t, f.URL, tc.opts)
			_, err := p.Query(ctxFor(t, time.Minute), "up")
			require.NoError(t, err)
			for k, v := range tc.want {
				assert.Equal(t, v, f.requests()[0].Header.Get(k), k)
			}
		})
	}
}

func TestPrometheusTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(scalarJSON("1")))
	}))
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failing handshake below is expected
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	ctx := ctxFor(t, time.Minute)

	t.Run("CA", func(t *testing.T) {
		v, err := newTestProm(t, srv.URL, PrometheusOptions{CA: caPEM}).Query(ctx, "up")
		require.NoError(t, err)
		assert.Equal(t, 1.0, v)
	})
	t.Run("insecureSkipVerify", func(t *testing.T) {
		_, err := newTestProm(t, srv.URL, PrometheusOptions{InsecureSkipVerify: true}).Query(ctx, "up")
		require.NoError(t, err)
	})
	t.Run("unknown authority is permanent", func(t *testing.T) {
		_, err := newTestProm(t, srv.URL, PrometheusOptions{}).Query(ctx, "up")
		require.Error(t, err)
		var qe *QueryError
		require.ErrorAs(t, err, &qe)
		assert.Equal(t, 1, qe.Attempts)
		assert.Contains(t, err.Error(), "certificate")
	})
	t.Run("custom transport", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test server
		_, err := newTestProm(t, srv.URL, PrometheusOptions{Transport: tr, Credentials: Credentials{BearerToken: "x"}}).Query(ctx, "up")
		require.NoError(t, err)
	})
}

func TestPrometheusPathPrefix(t *testing.T) {
	f := newPromFake(t, always(200, scalarJSON("1")))
	p := newTestProm(t, f.URL+"/prometheus/", PrometheusOptions{})
	_, err := p.Query(ctxFor(t, time.Minute), "up")
	require.NoError(t, err)
	assert.Equal(t, "/prometheus/api/v1/query", f.requests()[0].Path)
}

func TestNewPrometheusReportsEveryProblem(t *testing.T) {
	_, err := NewPrometheus(PrometheusOptions{
		Address:      "prometheus:9090",
		Credentials:  Credentials{BearerToken: "t", Username: "u"},
		Headers:      http.Header{"Authorization": {"Bearer x"}},
		CA:           []byte("not pem"),
		Transport:    http.DefaultTransport,
		Timeout:      -time.Second,
		RetryTimeout: -time.Second,
	})
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, want := range []string{
		`Address: must be an absolute http(s) URL, got "prometheus:9090"`,
		"not both",
		"needs both a username and a password",
		"Authorization header conflicts",
		"CA: no PEM certificate",
		"Transport: cannot be combined",
		"Timeout: must not be negative",
		"RetryTimeout: must not be negative",
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = NewPrometheus(PrometheusOptions{})
	assert.ErrorContains(t, err, "Address: required")
}

func TestSecretCredentials(t *testing.T) {
	c, err := SecretCredentials(map[string][]byte{"token": []byte("tok"), "username": []byte("ignored")})
	require.NoError(t, err)
	assert.Equal(t, Credentials{BearerToken: "tok"}, c)
	c, err = SecretCredentials(map[string][]byte{"username": []byte("u"), "password": []byte("p")})
	require.NoError(t, err)
	assert.Equal(t, Credentials{Username: "u", Password: "p"}, c)
	_, err = SecretCredentials(map[string][]byte{"username": []byte("u")})
	assert.ErrorContains(t, err, `no "password"`)
	_, err = SecretCredentials(map[string][]byte{"password": []byte("p")})
	assert.ErrorContains(t, err, `no "username"`)
	_, err = SecretCredentials(nil)
	assert.Error(t, err)
}

func TestQueryErrorWording(t *testing.T) {
	err := &QueryError{Query: "up", Attempts: 3, Err: errors.New("prometheus unavailable: connection refused")}
	assert.Equal(t, "prometheus unavailable: connection refused (3 attempts): query up", err.Error())
}
