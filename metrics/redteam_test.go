package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// An address the providers refuse must not be quoted whole in the error (it reaches Canary
// events through spec.metricsServer): its password and query values are credentials.
func TestRedteamInvalidAddressKeepsCredentialsOut(t *testing.T) {
	for _, addr := range []string{
		"http://flagger:s3cret@prometheus.monitoring:90x90",
		"http://flagger:s3cret@prometheus.monitoring/%zz",
		"ftp://flagger:s3cret@prometheus.monitoring/",
		"http://prometheus.monitoring:bad/?token=s3cret",
	} {
		t.Run(addr, func(t *testing.T) {
			_, err := NewPrometheus(PrometheusOptions{Address: addr})
			require.ErrorIs(t, err, ErrInvalidOptions)
			assert.NotContains(t, err.Error(), "s3cret")
			_, err = NewDatadog(DatadogOptions{Address: addr, APIKey: "a", ApplicationKey: "b"})
			require.ErrorIs(t, err, ErrInvalidOptions)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// The providers keep an address's query parameters (some gateways take a token there), so a
// server that cannot be reached must not have them quoted in the error, nor in the retry
// log: neither in the address the message names nor in the transport error's URL.
func TestRedteamUnreachableServerKeepsQueryTokensOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
		}
	}))
	t.Cleanup(srv.Close)
	addr := srv.URL + "/?token=s3cret"

	p := newTestProm(t, addr, PrometheusOptions{RetryTimeout: 200 * time.Millisecond})
	_, err := p.Query(context.Background(), "up")
	require.ErrorIs(t, err, ErrUnavailable)
	assert.NotContains(t, err.Error(), "s3cret")

	d, err := NewDatadog(DatadogOptions{Address: addr, APIKey: "a", ApplicationKey: "b", RetryTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	_, err = d.Query(context.Background(), "avg:requests{*}")
	require.ErrorIs(t, err, ErrUnavailable)
	assert.NotContains(t, err.Error(), "s3cret")
}

// catch runs f and turns a panic into a test failure, so every case is reported.
func catch(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("panic: %v", r)
		}
	}()
	f()
}

// An answer whose samples are null (Prometheus never sends one; anything at its address
// may) fails the query: it must not crash the process that runs every release.
func TestRedteamNullSamplesDoNotPanic(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{
		`{"status":"success","data":{"resultType":"vector","result":[null]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[null,null]}}`,
	} {
		t.Run(body, func(t *testing.T) {
			p := newTestProm(t, newPromFake(t, always(200, body)).URL, PrometheusOptions{})
			catch(t, func() {
				_, err := p.Query(ctx, "up")
				assert.ErrorIs(t, err, ErrUnexpectedResult)
			})
			s, err := NewPrometheusSamples(p, PrometheusSamplesOptions{})
			require.NoError(t, err)
			catch(t, func() {
				_, err := s.Samples(ctx, SampleRequest{Metric: "m", CanaryQuery: "up", BaselineQuery: "up"})
				assert.ErrorIs(t, err, ErrUnexpectedResult)
			})
		})
	}
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[null]}}`
	p := newTestProm(t, newPromFake(t, always(200, matrix)).URL, PrometheusOptions{})
	s, err := NewPrometheusSamples(p, PrometheusSamplesOptions{Step: time.Minute})
	require.NoError(t, err)
	catch(t, func() {
		_, err := s.Samples(ctx, SampleRequest{Metric: "m", CanaryQuery: "up", BaselineQuery: "up"})
		assert.ErrorIs(t, err, ErrUnexpectedResult)
	})
	c, err := NewPrometheusCounts(p, PrometheusCountsOptions{})
	require.NoError(t, err)
	catch(t, func() {
		_, err := c.Counts(ctx, CountRequest{Target: canary.Target{Namespace: "test", Name: "podinfo"}})
		assert.ErrorIs(t, err, ErrUnexpectedResult)
	})
}

// A vector sample without a value pair [time, "value"] is not a measurement of 0: read as 0,
// it would pass a check such as an error rate of at most 1%.
func TestRedteamSampleWithoutValueIsNotZero(t *testing.T) {
	for _, sample := range []string{
		`{}`,
		`{"metric":{"pod":"a"}}`,
		`{"metric":{},"value":null}`,
		`{"metric":{},"value":[]}`,
		`{"metric":{},"value":[1767225600]}`,
		`{"metric":{},"value":[1767225600,null]}`, // client_golang leaves the value 0
		`{"metric":{},"value":[1767225600,0.5]}`,
		`{"metric":{},"histogram":null}`,
	} {
		t.Run(sample, func(t *testing.T) {
			body := `{"status":"success","data":{"resultType":"vector","result":[` + sample + `]}}`
			p := newTestProm(t, newPromFake(t, always(200, body)).URL, PrometheusOptions{})
			v, err := p.Query(context.Background(), "sum(rate(errors[1m]))")
			assert.ErrorIs(t, err, ErrUnexpectedResult, "value %v", v)
			s, err := NewPrometheusSamples(p, PrometheusSamplesOptions{})
			require.NoError(t, err)
			_, err = s.Samples(context.Background(), SampleRequest{Metric: "m", CanaryQuery: "up", BaselineQuery: "up"})
			assert.ErrorIs(t, err, ErrUnexpectedResult)
			// the same vector answering a range query (a server that is not Prometheus)
			s, err = NewPrometheusSamples(p, PrometheusSamplesOptions{Step: time.Minute})
			require.NoError(t, err)
			got, err := s.Samples(context.Background(), SampleRequest{Metric: "m", CanaryQuery: "up", BaselineQuery: "up"})
			assert.ErrorIs(t, err, ErrUnexpectedResult, "samples %v", got)
		})
	}
}

// A range answer's point without its value ([t], [], null, or a value that is not Prometheus'
// quoted number) is not a measurement of 0 either: the samples and the counts refuse it.
func TestRedteamRangePointWithoutValueIsNotZero(t *testing.T) {
	ctx := context.Background()
	for _, point := range []string{`[1767225600]`, `[]`, `null`, `[1767225600,null]`, `[1767225600,0.5]`, `[1767225600,"1",3]`, `{}`} {
		t.Run(point, func(t *testing.T) {
			body := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1767225540,"1"],` + point + `]}]}}`
			p := newTestProm(t, newPromFake(t, always(200, body)).URL, PrometheusOptions{})
			s, err := NewPrometheusSamples(p, PrometheusSamplesOptions{Step: time.Minute})
			require.NoError(t, err)
			got, err := s.Samples(ctx, SampleRequest{Metric: "m", CanaryQuery: "up", BaselineQuery: "up"})
			assert.ErrorIs(t, err, ErrUnexpectedResult, "samples %v", got)
			c, err := NewPrometheusCounts(p, PrometheusCountsOptions{})
			require.NoError(t, err)
			counts, err := c.Counts(ctx, CountRequest{Target: canary.Target{Namespace: "test", Name: "podinfo"}})
			assert.ErrorIs(t, err, ErrUnexpectedResult, "counts %v", counts)
		})
	}
	good := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1767225540,"1"],[1767225600, "0"]]}]}}`
	p := newTestProm(t, newPromFake(t, always(200, good)).URL, PrometheusOptions{})
	s, err := NewPrometheusSamples(p, PrometheusSamplesOptions{Step: time.Minute})
	require.NoError(t, err)
	got, err := s.Samples(ctx, SampleRequest{Metric: "m", CanaryQuery: "up", BaselineQuery: "up"})
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 0}, got.Canary)
}
