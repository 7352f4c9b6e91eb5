package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reference values below were computed with R 4.2.2 (Debian r-base-core 4.2.2.20221110-2):
//
//	wilcox.test(x, y, conf.int = TRUE, conf.level = conf, correct = TRUE)
//
// R's W is U here. The first case is the example of R's wilcox.test help page, published in
// Hollander & Wolfe (1973), p. 69 (permeability constants): W = 35, p-value = 0.2544.
var (
	hwX = []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY = []float64{1.15, 0.88, 0.90, 0.74, 1.21}

	// set.seed(1); round(rnorm(30, 10, 2), 6); round(rnorm(40, 11, 2), 6)
	rnormU = []float64{8.747092, 10.367287, 8.328743, 13.190562, 10.659016, 8.359063, 10.974858, 11.476649, 11.151563, 9.389223,
		13.023562, 10.779686, 8.757519, 5.570600, 12.249862, 9.910133, 9.967619, 11.887672, 11.642442, 11.187803,
		11.837955, 11.564273, 10.149130, 6.021297, 11.239651, 9.887743, 9.688409, 7.058495, 9.043700, 10.835883}
	rnormV = []float64{13.717359, 10.794425, 11.775343, 10.892390, 8.245881, 10.170011, 10.211420, 10.881373, 13.200051, 12.526351,
		10.670953, 10.493277, 12.393927, 12.113326, 9.622489, 9.585010, 11.729164, 12.537066, 10.775308, 12.762215,
		11.796212, 9.775947, 11.682239, 8.741274, 13.866047, 14.960800, 10.265557, 8.911731, 12.139439, 10.729891,
		15.803236, 10.921520, 12.379479, 11.056004, 9.513454, 11.377585, 7.390083, 13.931110, 11.306507, 15.345223}
)

func TestMannWhitneyAgainstR(t *testing.T) {
	for _, tc := range []struct {
		name        string
		x, y        []float64
		conf        float64
		exact       bool
		u, p        float64
		est, lo, hi float64
		// R's normal-path interval comes from a root search over the shift; ours is the
		// order statistic at the same quantile, so it may differ by less than one step.
		ciTol float64
	}{
		{"hollander-wolfe 95%", hwX, hwY, 0.95, true, 35, 0.2544122544122544, 0.305, -0.15, 0.76, 1e-12},
		{"hollander-wolfe 98%", hwX, hwY, 0.98, true, 35, 0.2544122544122544, 0.305, -0.17, 0.90, 1e-12},
		{"tiny", []float64{3, 5, 9}, []float64{1, 2, 4, 6}, 0.98, true, 9, 0.4, 2.5, -3, 8, 1e-12},
		{"30x40", rnormU, rnormV, 0.98, true, 402, 0.018399774924764793, -0.9946435, -2.154661, -0.014739, 1e-9},
		{"one tie", []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30},
			[]float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}, 0.95, false, 58, 0.13291945818531886, 0.5600561608358734, -0.36997737472725434, 1.1829707736879225, 0.01},
		{"many ties", []float64{1, 2, 2, 3, 3, 3, 4}, []float64{2, 3, 4, 4, 5, 5, 6, 7}, 0.98, false, 8.5, 0.025279736885893928, -2, -3.9999889925352434, 5.1687351039002278e-05, 1e-4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := MannWhitney(tc.x, tc.y, tc.conf)
			require.NoError(t, err)
			assert.Equal(t, tc.exact, r.Exact)
			assert.InDelta(t, tc.u, r.U, 1e-12, "U")
			assert.InDelta(t, tc.p, r.P, 1e-12, "p")
			if tc.exact { // R's normal-path estimate is a root search too; ours is the median
				assert.InDelta(t, tc.est, r.Estimate, 1e-12, "estimate")
			}
			assert.InDelta(t, tc.lo, r.Lower, tc.ciTol, "lower")
			assert.InDelta(t, tc.hi, r.Upper, tc.ciTol, "upper")
			assert.Equal(t, len(tc.x), r.N1)
			assert.Equal(t, len(tc.y), r.N2)
		})
	}
}

// TestMannWhitneyByHand works the "tiny" case out by hand. x = {3, 5, 9}, y = {1, 2, 4, 6}:
// 3 beats 1 and 2, 5 beats 1, 2 and 4, 9 beats all four: U = 2 + 3 + 4 = 9. Under H0 the
// C(7, 3) = 35 arrangements give U = 0..12 with frequencies 1 1 2 3 4 4 5 4 4 3 2 1 1 (the
// Gaussian binomial [7 choose 3]_q), so P(U ≥ 9) = (3+2+1+1)/35 = 0.2 and p = 0.4. The twelve
// differences sorted are -3 -1 -1 1 1 2 3 3 4 5 7 8: their median is (2+3)/2 = 2.5.
func TestMannWhitneyByHand(t *testing.T) {
	d := newUDist(3, 4)
	assert.Equal(t, []float64{1, 1, 2, 3, 4, 4, 5, 4, 4, 3, 2, 1, 1}, d.freq)
	assert.Equal(t, 35.0, d.total)
	r, err := MannWhitney([]float64{3, 5, 9}, []float64{1, 2, 4, 6}, 0.90)
	require.NoError(t, err)
	assert.Equal(t, 9.0, r.U)
	assert.InDelta(t, 0.4, r.P, 1e-15)
	assert.Equal(t, 2.5, r.Estimate)
	// 90 %: the smallest u with P(U ≤ u) ≥ 0.05 is 1 (2/35 = 0.057), so the interval is the
	// 1st and the 12th difference.
	assert.Equal(t, -3.0, r.Lower)
	assert.Equal(t, 8.0, r.Upper)
	assert.InDelta(t, 0.75, r.CLES(), 1e-15)

	// Normal approximation of the same data, by hand: mean 6, σ² = 3·4·8/12 = 8,
	// z = (9 − 6 − 0.5)/√8 = 0.8839, p = 2(1 − Φ(0.8839)) = 0.3768.
	n, err := mannWhitney([]float64{3, 5, 9}, []float64{1, 2, 4, 6}, 0.90, false)
	require.NoError(t, err)
	assert.False(t, n.Exact)
	assert.InDelta(t, 2.5/math.Sqrt(8), n.Z, 1e-12)
	assert.InDelta(t, 0.3768, n.P, 1e-4)
}

func TestUDistAgainstR(t *testing.T) {
	for _, tc := range []struct {
		n1, n2, u int
		want      float64 // R: pwilcox(u, n1, n2)
	}{
		{4, 5, 10, 0.54761904761904767},
		{10, 12, 30, 0.025162144357190799},
		{49, 49, 1000, 0.077968162023427587},
		{45, 49, 900, 0.063351230522384255},
	} {
		assert.InDelta(t, tc.want, newUDist(tc.n1, tc.n2).cdf(tc.u), 1e-13, "pwilcox(%d, %d, %d)", tc.u, tc.n1, tc.n2)
	}
	assert.Equal(t, 25, newUDist(10, 12).quantile(0.01), "qwilcox(0.01, 10, 12)")
}

// TestUDistByEnumeration counts U over every way to choose x's ranks, for small sizes.
func TestUDistByEnumeration(t *testing.T) {
	for n1 := 1; n1 <= 6; n1++ {
		for n2 := 1; n2 <= 6; n2++ {
			n := n1 + n2
			want := make([]float64, n1*n2+1)
			for mask := 0; mask < 1<<n; mask++ {
				if popcount(mask) != n1 {
					continue
				}
				u, below := 0, 0 // ranks 0..n-1 in order: an x beats the y's below it
				for r := 0; r < n; r++ {
					if mask&(1<<r) != 0 {
						u += below
					} else {
						below++
					}
				}
				want[u]++
			}
			assert.Equal(t, want, newUDist(n1, n2).freq, "n1=%d n2=%d", n1, n2)
		}
	}
}

func popcount(v int) int {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}

// TestExactAndNormalConverge checks that both paths agree for samples near the cut-off.
func TestExactAndNormalConverge(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, shift := range []float64{0, 0.3, 0.6} {
		x, y := make([]float64, 45), make([]float64, 48)
		for i := range x {
			x[i] = rnd.NormFloat64() + shift
		}
		for i := range y {
			y[i] = rnd.NormFloat64()
		}
		e, err := mannWhitney(x, y, 0.98, true)
		require.NoError(t, err)
		n, err := mannWhitney(x, y, 0.98, false)
		require.NoError(t, err)
		require.True(t, e.Exact)
		require.False(t, n.Exact)
		assert.InDelta(t, e.P, n.P, 0.003, "shift %v: p exact %v normal %v", shift, e.P, n.P)
		assert.Equal(t, e.Estimate, n.Estimate)
		step := 4 / float64(len(x)*len(y)) * 50 // a few order statistics apart at most
		assert.InDelta(t, e.Lower, n.Lower, step, "shift %v lower", shift)
		assert.InDelta(t, e.Upper, n.Upper, step, "shift %v upper", shift)
	}
}

func TestMannWhitneySymmetry(t *testing.T) {
	a, err := MannWhitney(rnormU, rnormV, 0.98)
	require.NoError(t, err)
	b, err := MannWhitney(rnormV, rnormU, 0.98)
	require.NoError(t, err)
	assert.Equal(t, float64(a.N1*a.N2)-a.U, b.U)
	assert.InDelta(t, a.P, b.P, 1e-12)
	assert.Equal(t, -a.Estimate, b.Estimate)
	assert.Equal(t, -a.Lower, b.Upper)
	assert.Equal(t, -a.Upper, b.Lower)
}

func TestMannWhitneyEdgeCases(t *testing.T) {
	_, err := MannWhitney(nil, []float64{1}, 0.98)
	require.ErrorIs(t, err, ErrNoSamples)
	_, err = MannWhitney([]float64{math.NaN()}, []float64{1}, 0.98)
	require.ErrorContains(t, err, "NaN")
	_, err = MannWhitney([]float64{1}, []float64{1}, 1)
	require.ErrorContains(t, err, "confidence")

	r, err := MannWhitney([]float64{2, 2, 2}, []float64{2, 2}, 0.98)
	require.NoError(t, err)
	assert.Equal(t, 1.0, r.P, "all values tied: no evidence")
	assert.Equal(t, 0.0, r.Estimate)
	assert.Equal(t, [2]float64{0, 0}, [2]float64{r.Lower, r.Upper})

	// Two constant samples: complete separation, every difference is 3.
	r, err = MannWhitney([]float64{5, 5, 5, 5, 5, 5}, []float64{2, 2, 2, 2, 2, 2}, 0.98)
	require.NoError(t, err)
	assert.Equal(t, 36.0, r.U)
	assert.Less(t, r.P, 0.01)
	assert.Equal(t, [3]float64{3, 3, 3}, [3]float64{r.Lower, r.Estimate, r.Upper})

	r, err = MannWhitney([]float64{math.Inf(1), 1, 2}, []float64{0, 1, math.Inf(1)}, 0.9)
	require.NoError(t, err)
	assert.False(t, math.IsNaN(r.Estimate))
}

// TestMannWhitneyCalibration checks the test's error rates on simulated (seeded) data: about
// 5 % of p-values below 0.05 under H0 and of 95 % intervals missing the true shift, on the
// exact path, the normal path, and with ties.
func TestMannWhitneyCalibration(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	const runs = 1000
	for _, tc := range []struct {
		name  string
		n     int
		round float64 // rounding step: ties on the normal path
	}{{"exact n=12", 12, 0}, {"normal n=60", 60, 0}, {"ties n=30", 30, 0.5}} {
		reject, miss := 0, 0
		for range runs {
			x, y := make([]float64, tc.n), make([]float64, tc.n)
			for i := range x {
				x[i], y[i] = rnd.NormFloat64()+1, rnd.NormFloat64()
				if tc.round > 0 {
					x[i], y[i] = math.Round(x[i]/tc.round)*tc.round, math.Round(y[i]/tc.round)*tc.round
				}
			}
			r, err := MannWhitney(x, y, 0.95)
			require.NoError(t, err)
			if r.Lower > 1 || r.Upper < 1 {
				miss++
			}
			shifted := make([]float64, len(x))
			for i, v := range x {
				shifted[i] = v - 1 // H0 holds
			}
			h0, err := MannWhitney(shifted, y, 0.95)
			require.NoError(t, err)
			if h0.P < 0.05 {
				reject++
			}
		}
		assert.InDelta(t, 0.05, float64(reject)/runs, 0.022, "%s: false positive rate", tc.name)
		if tc.round > 0 {
			// On a lattice the true shift often equals the bounds: closed intervals are
			// conservative.
			assert.LessOrEqual(t, float64(miss)/runs, 0.075, "%s: interval miss rate", tc.name)
		} else {
			assert.InDelta(t, 0.05, float64(miss)/runs, 0.025, "%s: interval miss rate", tc.name)
		}
	}
}

// TestOrderStats checks the selection against a full sort, with and without ties.
func TestOrderStats(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 5))
	for _, n := range []int{1, 2, 3, 4, 7, 10, 101, 1000} {
		for _, ties := range []bool{false, true} {
			d := make([]float64, n)
			for i := range d {
				d[i] = rnd.NormFloat64()
				if ties {
					d[i] = math.Round(d[i])
				}
			}
			sorted := slices.Clone(d)
			slices.Sort(sorted)
			for range 5 {
				lo := rnd.IntN((n-1)/2 + 1)
				hi := n - 1 - rnd.IntN((n-1)/2+1)
				hi = max(hi, n/2)
				lower, med, upper := orderStats(slices.Clone(d), lo, hi)
				assert.Equal(t, sorted[lo], lower, "n=%d lo=%d", n, lo)
				assert.Equal(t, sorted[hi], upper, "n=%d hi=%d", n, hi)
				assert.Equal(t, median(sorted), med, "n=%d median", n)
			}
		}
	}
}
