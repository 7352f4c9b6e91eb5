package metrics

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
