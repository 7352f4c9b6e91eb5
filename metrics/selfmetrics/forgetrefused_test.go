package selfmetrics_test

import (
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics/selfmetrics"
	"github.com/stretchr/testify/assert"
)

// A refused Canary whose targetRef.name cannot be a label value (longer than MaxLabelLength,
// or not UTF-8) is counted as one of an unknown target, and forgetting it, with the target it
// was refused with, takes it out of flagger_canary_total: it is not counted for ever.
func TestForgetARefusedCanaryOfAnUnfitTargetName(t *testing.T) {
	c := selfmetrics.New(selfmetrics.Options{})
	reg := registry(t, c)
	for _, name := range []string{strings.Repeat("x", selfmetrics.MaxLabelLength+1), "web\xff"} {
		bad := canary.Target{Namespace: "test", Name: name, Canary: "bad"}
		c.Refuse(bad)
		assert.Equal(t, 1.0, mustValue(t, reg, "flagger_canary_total", lbl("namespace", "test")))
		c.Forget(bad)
		_, ok := value(t, reg, "flagger_canary_total", lbl("namespace", "test"))
		assert.False(t, ok, "the Canary forgotten is still counted (target %q)", name)
	}
	assert.Equal(t, []string{"flagger_info"}, names(t, reg))
}
