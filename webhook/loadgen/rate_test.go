package loadgen_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/loadgen"
)

// A rate so low that the interval between requests is longer than a time.Duration holds
// (below about one request in 292 years) is one request per run, not a panic in the run's
// goroutine, which would end the whole process: a hey command's -q reaches Rate unchanged.
func TestATinyRateSendsOneRequestAndDoesNotPanic(t *testing.T) {
	for _, rate := range []float64{1e-10, 1e-300, 5e-324} {
		s := &canaryServer{}
		g := newGen(t, loadgen.Config{URL: serve(t, s), Rate: rate, Duration: 200 * time.Millisecond})
		ok, err := allow(t, g)
		require.NoError(t, err)
		assert.True(t, ok)
		wait(t, g)
		assert.Equal(t, int64(1), s.requests.Load(), "rate %g", rate)
	}
}
