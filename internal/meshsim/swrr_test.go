package meshsim

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxDeviation picks n times and returns the largest |picked − n·w/W| of any backend after
// any number of picks.
func maxDeviation(p *picker, n int) float64 {
	count := map[string]int{}
	worst := 0.0
	for i := 1; i <= n; i++ {
		b, _ := p.pick()
		count[b.service]++
		for _, wb := range p.backends {
			want := float64(i) * float64(wb.milli) / float64(p.total)
			worst = math.Max(worst, math.Abs(float64(count[wb.service])-want))
		}
	}
	return worst
}

func TestPickerGivesExactProportionsOverShortRuns(t *testing.T) {
	for _, ws := range [][]int64{{80, 20}, {95, 5}, {50, 50}, {55, 45}, {1, 99}, {333, 667}, {10, 30, 60}, {1, 1, 1, 97}, {5, 10, 20, 30, 35}} {
		t.Run(fmt.Sprint(ws), func(t *testing.T) {
			var bs []backendWeight
			for i, w := range ws {
				bs = append(bs, backendWeight{service: fmt.Sprint("b", i), milli: w * 1000})
			}
			p := newPicker(bs)
			// After every pick, each backend is within one request of its share.
			assert.Less(t, maxDeviation(p, 10000), 1.0, "largest deviation from the weights after any prefix")
		})
	}
}

func TestPickerSkipsZeroWeightsAndReportsNone(t *testing.T) {
	p := newPicker([]backendWeight{{"canary", 0}, {"primary", 100000}})
	for range 10 {
		b, ok := p.pick()
		require.True(t, ok)
		assert.Equal(t, "primary", b.service)
	}
	assert.Len(t, p.declared, 2)

	_, ok := newPicker([]backendWeight{{"canary", 0}}).pick()
	assert.False(t, ok)
	_, ok = newPicker(nil).pick()
	assert.False(t, ok)
}

func TestPickerSpreadsTheLightBackend(t *testing.T) {
	// 5 % canary: one canary request in every 20, never two in a row.
	p := newPicker([]backendWeight{{"canary", 5000}, {"primary", 95000}})
	var seq []string
	for range 40 {
		b, _ := p.pick()
		seq = append(seq, b.service)
	}
	canaries := 0
	for i, s := range seq {
		if s == "canary" {
			canaries++
			if i > 0 {
				assert.NotEqual(t, "canary", seq[i-1])
			}
		}
	}
	assert.Equal(t, 2, canaries)
}
