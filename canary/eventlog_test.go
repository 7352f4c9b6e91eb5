package canary_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/require"
)

// Every event is logged once, its message with the target, reason, phase and canary weight,
// and a Warning marked as one.
func TestEventsAreLoggedWithTheirFields(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	env := healthyEnv()
	bootstrapped(t, env, seedSpec(), "3.1.1")
	env.Metrics.Set("request-success-rate", canarytest.Constant(10)) // every analysis fails
	cfg := env.Config(seedSpec())
	cfg.Logger = funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	r, err := canary.New(cfg) // the same environment, its target initialized
	require.NoError(t, err)
	res := run(t, r)
	require.Equal(t, canary.PhaseFailed, res.Phase)

	mu.Lock()
	defer mu.Unlock()
	count := func(fields string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, fields) {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, count(`"msg"="Advance podinfo.test canary weight 5" "target"="podinfo.test" "reason"="Advanced" "phase"="Progressing" "canaryWeight"=5`),
		strings.Join(lines, "\n"))
	require.Zero(t, count(`"reason"="Advanced" "phase"="Progressing" "canaryWeight"=5 "warning"`))
	// the five failed checks, each a Warning
	require.Equal(t, 5, count(`"msg"="Halt podinfo.test advancement request-success-rate 10.00 < 99" "target"="podinfo.test" "reason"="Halted" "phase"="Progressing" "canaryWeight"=5 "warning"=true`),
		strings.Join(lines, "\n"))
	require.Equal(t, 1, count(`"msg"="Canary failed! Scaling down podinfo.test" "target"="podinfo.test" "reason"="Failed" "phase"="Failed" "canaryWeight"=0 "warning"=true`))
}
