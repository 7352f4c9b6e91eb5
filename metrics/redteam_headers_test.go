package metrics

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A header or token net/http refuses to send made every query fail as "could not reach
// Prometheus": the release held its step for ever instead of the template being refused. The
// providers refuse them when made, without quoting the values (they may be credentials).
func TestRedteamUnsendableHeadersRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		opts PrometheusOptions
		want string
	}{
		"token file's trailing newline": {PrometheusOptions{Credentials: Credentials{BearerToken: "s3cret\n"}},
			"Credentials.BearerToken: holds a line break or another control character"},
		"token with a header after it": {PrometheusOptions{Credentials: Credentials{BearerToken: "s3cret\r\nX-Admin: 1"}},
			"Credentials.BearerToken: holds a line break"},
		"header value with a newline": {PrometheusOptions{Headers: http.Header{"X-Api-Key": {"ok", "s3cret\n"}}},
			`Headers["X-Api-Key"][1]: the value holds a line break or another control character`},
		"header value with DEL": {PrometheusOptions{Headers: http.Header{"X-Api-Key": {"s3cret\x7f"}}},
			`Headers["X-Api-Key"][0]: the value holds`},
		"header name with a space": {PrometheusOptions{Headers: http.Header{"X Api Key": {"s3cret"}}},
			`Headers: name "X Api Key" is not an HTTP token`},
		"header name with a colon": {PrometheusOptions{Headers: http.Header{"X-Org:": {"s3cret"}}},
			`Headers: name "X-Org:" is not an HTTP token`},
	} {
		t.Run(name, func(t *testing.T) {
			tc.opts.Address = "http://prometheus.monitoring:9090"
			_, err := NewPrometheus(tc.opts)
			require.ErrorIs(t, err, ErrInvalidOptions)
			assert.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
	_, err := NewPrometheus(PrometheusOptions{Address: "http://prometheus.monitoring:9090",
		Credentials: Credentials{BearerToken: "a.b-c_d~e+f/g="}, Headers: http.Header{"X-Scope-OrgID": {"team a\tb"}}})
	assert.NoError(t, err)

	for _, key := range []string{"s3cret\x01", "s3cret\x7f", "s3cret\t\n"} {
		_, err := NewDatadog(DatadogOptions{APIKey: key, ApplicationKey: key})
		require.ErrorIs(t, err, ErrInvalidOptions, "%q", key)
		assert.ErrorContains(t, err, "APIKey: must not contain line breaks or other control characters")
		assert.ErrorContains(t, err, "ApplicationKey: must not contain line breaks or other control characters")
		assert.NotContains(t, err.Error(), "s3cret")
	}
}
