package metrics

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// floats decodes b as little-endian float64s (at most 400), with the selector byte s mapping
// some to infinities, NaN and ties so that the fuzzer reaches them often.
func floats(b []byte) []float64 {
	var out []float64
	for len(b) >= 9 && len(out) < 400 {
		v := math.Float64frombits(binary.LittleEndian.Uint64(b[1:9]))
		switch b[0] % 8 {
		case 0:
			v = math.Inf(1)
		case 1:
			v = math.Inf(-1)
		case 2:
			v = float64(b[1] % 4)
		case 3:
			v = math.NaN()
		}
		out = append(out, v)
		b = b[9:]
	}
	return out
}

func seedFloats(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, 7)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// FuzzMannWhitney: on NaN-free samples the test never panics; P is a probability, the interval
// holds the estimate, CLES is in [0, 1], and the counting path agrees with the materialized one.
func FuzzMannWhitney(f *testing.F) {
	f.Add(seedFloats(1, 2, 3, 4, 5), seedFloats(2, 3, 4, 5, 6), 0.98)
	f.Add(seedFloats(1, 1, 1), seedFloats(1, 1, 1), 0.9)
	f.Add(append(seedFloats(1, 2), 0, 0, 0, 0, 0, 0, 0, 0, 0), seedFloats(math.MaxFloat64, -math.MaxFloat64), 0.5)
	f.Fuzz(func(t *testing.T, xb, yb []byte, conf float64) {
		x, y := dropNaN(floats(xb)), dropNaN(floats(yb))
		r, err := MannWhitney(x, y, conf)
		if len(x) == 0 || len(y) == 0 || !(conf > 0 && conf < 1) {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		assert.True(t, r.P >= 0 && r.P <= 1, "p = %v", r.P)
		assert.True(t, r.CLES() >= 0 && r.CLES() <= 1, "cles = %v", r.CLES())
		if !math.IsNaN(r.Estimate) {
			assert.LessOrEqual(t, r.Lower, r.Estimate)
			assert.LessOrEqual(t, r.Estimate, r.Upper)
		}
		k := len(x) * len(y)
		lo := (k - 1) / 3
		wl, wm, wu := orderStats(pairwiseDiffs(x, y), lo, k-1-lo)
		gl, gm, gu := implicitOrderStats(x, y, lo, k-1-lo)
		assert.Equal(t, []float64{wl, wu}, []float64{gl, gu})
		if !math.IsNaN(wm) || !math.IsNaN(gm) {
			assert.Equal(t, wm, gm)
		}
	})
}

func dropNaN(v []float64) []float64 {
	out := v[:0]
	for _, x := range v {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// FuzzClassify: the judge's classification of any samples is one of the four, and a canary
// whose values are all +Inf (histogram_quantile past the last bucket) is never a Pass.
func FuzzClassify(f *testing.F) {
	f.Add(seedFloats(1, 2, 3, 4, 5, 6), seedFloats(1, 2, 3, 4, 5, 6), uint8(0), 3.0)
	f.Add(seedFloats(math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)), seedFloats(1, 2, 3, 4, 5), uint8(1), 0.0)
	f.Fuzz(func(t *testing.T, cb, bb []byte, dir uint8, outlier float64) {
		if math.IsNaN(outlier) || math.IsInf(outlier, 0) || outlier < 0 {
			outlier = 0
		}
		m := JudgeMetric{Name: "m", Direction: []Direction{DirectionEither, DirectionIncrease, DirectionDecrease}[dir%3],
			MinSamples: 1, OutlierFactor: outlier}.withDefaults()
		c, b := floats(cb), floats(bb)
		mr := classify(m, c, b, DefaultConfidence)
		assert.Contains(t, []Classification{ClassPass, ClassHigh, ClassLow, ClassNoData}, mr.Classification)
		clean := dropNaN(append([]float64(nil), c...))
		allInf := len(clean) > 0
		for _, v := range clean {
			allInf = allInf && math.IsInf(v, 1)
		}
		if allInf && len(dropNaN(append([]float64(nil), b...))) > 0 {
			assert.NotEqual(t, ClassPass, mr.Classification, mr.String())
		}
	})
}
