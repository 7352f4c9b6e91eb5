package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ExactLimit is the sample size below which MannWhitney uses the exact distribution of U: both
// samples must have fewer than ExactLimit values and no value may occur twice (R's wilcox.test
// rule). Otherwise the p-value and the confidence interval come from the normal approximation.
const ExactLimit = 50

// ErrNoSamples is returned by MannWhitney when a sample is empty.
var ErrNoSamples = errors.New("no samples")

// MannWhitneyResult is a two-sided Mann-Whitney U test (Wilcoxon rank-sum test) of x against y,
// with the Hodges–Lehmann estimate of the location shift x − y and its confidence interval.
type MannWhitneyResult struct {
	// N1 and N2 are the sizes of x and y.
	N1, N2 int
	// U is x's statistic: the number of pairs (xᵢ, yⱼ) with xᵢ > yⱼ, a tie counting ½.
	U float64
	// Z is the standardized U of the normal approximation, with continuity and tie corrections
	// (0 on the exact path and when every value is equal).
	Z float64
	// P is the two-sided p-value.
	P float64
	// Exact reports whether P and the interval come from the exact distribution of U.
	Exact bool
	// Estimate is the Hodges–Lehmann estimate of the shift x − y: the median of the N1·N2
	// pairwise differences xᵢ − yⱼ.
	Estimate float64
	// Lower and Upper bound the shift at the requested confidence: order statistics of the
	// pairwise differences chosen by the distribution of U (exact, or its normal approximation
	// with continuity and tie corrections).
	Lower, Upper float64
	// Confidence is the requested level of [Lower, Upper].
	Confidence float64
}

// CLES is the common-language effect size: the probability that a value of x exceeds a value
// of y (ties counting ½), U / (N1·N2). 0.5 means no difference.
func (r MannWhitneyResult) CLES() float64 { return r.U / float64(r.N1*r.N2) }

// MannWhitney tests whether x and y differ by a location shift, two-sided, and estimates the
// shift x − y with a confidence interval at level confidence (e.g. 0.98). Ties get average
// ranks and the variance is corrected for them. The exact distribution is used when both
// samples are smaller than ExactLimit and have no ties; otherwise the normal approximation with
// continuity correction. The values must not be NaN; ±Inf are ranked as extremes.
//
// The results match R's wilcox.test(x, y, conf.int = TRUE, conf.level = confidence) on the
// exact path; on the normal path the p-value matches and the interval uses the order statistics
// of the pairwise differences rather than R's root search (they agree to within one step).
func MannWhitney(x, y []float64, confidence float64) (MannWhitneyResult, error) {
	return mannWhitney(x, y, confidence, true)
}

// mannWhitney is MannWhitney; allowExact false forces the normal approximation (for tests).
func mannWhitney(x, y []float64, confidence float64, allowExact bool) (MannWhitneyResult, error) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return MannWhitneyResult{}, fmt.Errorf("mann-whitney: %w (x has %d values, y has %d)", ErrNoSamples, n1, n2)
	}
	if !(confidence > 0 && confidence < 1) {
		return MannWhitneyResult{}, fmt.Errorf("mann-whitney: confidence must be in (0, 1), got %v", confidence)
	}
	if slices.ContainsFunc(x, math.IsNaN) || slices.ContainsFunc(y, math.IsNaN) {
		return MannWhitneyResult{}, errors.New("mann-whitney: samples must not contain NaN")
	}
	r := MannWhitneyResult{N1: n1, N2: n2, Confidence: confidence}
	rankSum, tieSum := rankX(x, y)
	r.U = rankSum - float64(n1*(n1+1))/2

	m := float64(n1*n2) / 2
	n := float64(n1 + n2)
	sigma := math.Sqrt(float64(n1*n2) / 12 * ((n + 1) - tieSum/(n*(n-1))))
	alpha := 1 - confidence
	var qu int // 1-based rank of the lower confidence bound among the sorted differences
	if allowExact && tieSum == 0 && n1 < ExactLimit && n2 < ExactLimit {
		r.Exact = true
		d := newUDist(n1, n2)
		u := int(math.Round(r.U))
		var p float64
		if r.U > m {
			p = 1 - d.cdf(u-1)
		} else {
			p = d.cdf(u)
		}
		r.P = min(1, 2*p)
		qu = d.quantile(alpha / 2)
	} else {
		r.P = 1
		if sigma > 0 {
			dev := r.U - m
			r.Z = (dev - 0.5*sign(dev)) / sigma
			r.P = math.Min(1, math.Erfc(math.Abs(r.Z)/math.Sqrt2))
		}
		// The same quantile as the exact path, from the normal approximation of U with
		// continuity correction: the smallest u with P(U ≤ u) ≥ α/2.
		qu = int(math.Ceil(m - 0.5 + normalQuantile(alpha/2)*sigma))
	}
	k := n1 * n2
	qu = max(1, min(qu, (k+1)/2))
	if k <= materializeLimit {
		r.Lower, r.Estimate, r.Upper = orderStats(pairwiseDiffs(x, y), qu-1, k-qu)
		return r, nil
	}
	r.Lower, r.Estimate, r.Upper = implicitOrderStats(x, y, qu-1, k-qu)
	return r, nil
}

// materializeLimit is the number of pairwise differences up to which they are computed and
// selected in memory (512 KiB); above it, order statistics are found by counting, in
// O((N1+N2)·log) memory-free passes, so 10,000 × 10,000 samples need no 763 MB array.
const materializeLimit = 1 << 16

// diff is xᵢ − yⱼ with the difference of two equal infinities taken as 0.
func diff(a, b float64) float64 {
	d := a - b
	if math.IsNaN(d) {
		return 0
	}
	return d
}

// implicitOrderStats is orderStats over the pairwise differences of x and y without
// materializing them. With x and y sorted, diff(xᵢ, yⱼ) is nondecreasing in i and
// nonincreasing in j (infinities included), so the number of differences ≤ t is counted in one
// pass per row, and the k-th smallest difference is the smallest float64 t whose count exceeds
// k: a bisection over the 64-bit ordered representation of float64, exact in 64 steps.
func implicitOrderStats(x, y []float64, lo, hi int) (lower, med, upper float64) {
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	k := len(xs) * len(ys)
	m1, m2 := (k-1)/2, k/2
	lower, upper = kthDiff(xs, ys, lo), kthDiff(xs, ys, hi)
	v1 := kthDiff(xs, ys, m1)
	v2 := v1
	if m2 > m1 {
		v2 = kthDiff(xs, ys, m2)
	}
	return lower, midpoint(v1, v2), upper
}

// kthDiff returns the difference of rank k (0-based) among every diff(xᵢ, yⱼ), x and y sorted.
func kthDiff(xs, ys []float64, k int) float64 {
	lo := orderedKey(diff(xs[0], ys[len(ys)-1]))
	hi := orderedKey(diff(xs[len(xs)-1], ys[0]))
	for lo < hi { // smallest key whose value has more than k differences at or below it
		mid := lo + (hi-lo)/2
		if countAtMost(xs, ys, fromOrderedKey(mid)) > k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return fromOrderedKey(lo) + 0 // −0 becomes +0
}

// countAtMost counts the pairs with diff(xᵢ, yⱼ) ≤ t. In row i the pairs that qualify are a
// suffix of ys, starting no later than row i−1's: one pointer walks down as i grows.
func countAtMost(xs, ys []float64, t float64) int {
	n := 0
	j := len(ys) // first index of the qualifying suffix for the current row
	for i := len(xs) - 1; i >= 0; i-- {
		// a smaller x has smaller differences: the suffix only grows
		for j > 0 && diff(xs[i], ys[j-1]) <= t {
			j--
		}
		n += len(ys) - j
	}
	return n
}

// orderedKey maps float64 to uint64 so that the order of keys is the numeric order of values
// (−0 just below +0); fromOrderedKey inverts it.
func orderedKey(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func fromOrderedKey(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// rankX ranks the pooled sample (average ranks for ties) and returns the rank sum of x and the
// tie term Σ(t³ − t) over groups of t equal values.
func rankX(x, y []float64) (rankSum, tieSum float64) {
	type obs struct {
		v   float64
		isX bool
	}
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+1+j) / 2 // average of ranks i+1 .. j
		for _, o := range all[i:j] {
			if o.isX {
				rankSum += rank
			}
		}
		if t := float64(j - i); t > 1 {
			tieSum += t*t*t - t
		}
		i = j
	}
	return rankSum, tieSum
}

// pairwiseDiffs returns every xᵢ − yⱼ. The difference of two equal infinities is 0.
func pairwiseDiffs(x, y []float64) []float64 {
	out := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d := a - b
			if math.IsNaN(d) {
				d = 0
			}
			out = append(out, d)
		}
	}
	return out
}

// orderStats returns the values of ranks lo and hi (0-based) of d and its median, for
// lo ≤ (len(d)−1)/2 ≤ len(d)/2 ≤ hi, by selection in linear time rather than sorting the
// N1·N2 differences. d is reordered.
func orderStats(d []float64, lo, hi int) (lower, med, upper float64) {
	selectKth(d, lo)
	if hi > lo {
		selectKth(d[lo+1:], hi-lo-1)
	}
	lower, upper = d[lo], d[hi]
	// d[lo+1:hi] now holds ranks lo+1 .. hi−1 in some order.
	m1, m2 := (len(d)-1)/2, len(d)/2
	switch {
	case m1 == lo:
	case m1 == hi:
	default:
		selectKth(d[lo+1:hi], m1-lo-1)
	}
	v1, v2 := d[m1], d[m1]
	if m2 > m1 {
		if m2 == hi {
			v2 = d[hi]
		} else {
			v2 = slices.Min(d[m1+1 : hi])
		}
	}
	return lower, midpoint(v1, v2), upper
}

// midpoint is (a + b) / 2 without overflowing for large finite values of the same sign.
func midpoint(a, b float64) float64 {
	if m := (a + b) / 2; !math.IsInf(m, 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return m
	}
	return a/2 + b/2
}

// selectKth reorders a so that a[k] holds the value of rank k (0-based), with no larger value
// before it and no smaller one after (quickselect with three-way partitions, so ties cost
// nothing, and pivots from a fixed-seed generator, so runs are reproducible).
func selectKth(a []float64, k int) {
	lo, hi := 0, len(a)-1
	seed := uint64(0x9e3779b97f4a7c15)
	for lo < hi {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		p := a[lo+int(seed%uint64(hi-lo+1))]
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case a[i] < p:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case a[i] > p:
				a[i], a[gt] = a[gt], a[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return
		}
	}
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return midpoint(sorted[n/2-1], sorted[n/2])
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// normalQuantile is the standard normal quantile function Φ⁻¹(p).
func normalQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// uDist is the exact null distribution of U for samples of sizes n1 and n2 without ties:
// freq[u] arrangements of the pooled ranks give U = u, out of C(n1+n2, n1).
type uDist struct {
	freq  []float64
	total float64
}

// newUDist computes the frequencies as the coefficients of the Gaussian binomial coefficient
// [n1+n2 choose n1]_q, built as ∏ᵢ (1 − q^(n2+i)) / (1 − qⁱ) for i = 1..n1; every partial
// product is itself a Gaussian binomial, so the coefficients stay exact sums of counts.
func newUDist(n1, n2 int) uDist {
	if n1 > n2 {
		n1, n2 = n2, n1 // the distribution is symmetric in the sizes; fewer factors
	}
	size := n1*n2 + n1 + 1
	c := make([]float64, size)
	c[0] = 1
	deg := 0
	for i := 1; i <= n1; i++ {
		a := n2 + i
		// multiply by (1 − q^a)
		for k := deg + a; k >= a; k-- {
			c[k] -= c[k-a]
		}
		// divide by (1 − q^i): d[k] = c[k] + d[k−i]
		for k := i; k <= deg+a; k++ {
			c[k] += c[k-i]
		}
		deg = i * n2
		for k := deg + 1; k < size; k++ {
			c[k] = 0 // exactly zero in exact arithmetic; clear rounding residue
		}
	}
	freq := c[:n1*n2+1]
	total := 0.0
	for i, f := range freq {
		f = math.Max(0, math.Round(f)) // counts are integers; exact up to 2⁵³
		freq[i] = f
		total += f
	}
	return uDist{freq: freq, total: total}
}

// cdf returns P(U ≤ u).
func (d uDist) cdf(u int) float64 {
	if u < 0 {
		return 0
	}
	if u >= len(d.freq)-1 {
		return 1
	}
	s := 0.0
	for _, f := range d.freq[:u+1] {
		s += f
	}
	return s / d.total
}

// quantile returns the smallest u with P(U ≤ u) ≥ p (R's qwilcox).
func (d uDist) quantile(p float64) int {
	s := 0.0
	for u, f := range d.freq {
		s += f
		if s/d.total >= p*(1-64*epsilon) {
			return u
		}
	}
	return len(d.freq) - 1
}

// epsilon is the float64 machine epsilon, for comparisons of accumulated probabilities.
const epsilon = 2.220446049250313e-16
