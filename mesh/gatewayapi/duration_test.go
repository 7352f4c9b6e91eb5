package gatewayapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/mesh/gatewayapi"
)

// Gateway API durations (GEP-2257), as the HTTPRoute CRD's pattern takes them.
func TestDurationProblem(t *testing.T) {
	for _, ok := range []string{"1s", "500ms", "1h30m", "1h2m3s4ms", "99999s", "0s"} {
		assert.Empty(t, gatewayapi.DurationProblem(ok), ok)
	}
	for _, bad := range []string{"", "1", "1.5s", "100000s", "1h2m3s4ms5s", "-1s", "1us", "s", "1sm", " 1s", "1d"} {
		assert.NotEmpty(t, gatewayapi.DurationProblem(bad), bad)
	}
	long := gatewayapi.DurationProblem(strings.Repeat("1s", 10_000))
	assert.Contains(t, long, "is not a Gateway API duration")
	assert.Less(t, len(long), 300, "a refused value is quoted cut short")
}
