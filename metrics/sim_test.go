package metrics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
)

// This file is a synthetic service for the decision-quality benchmark: the requests, errors
// and p99 latency that a Linkerd proxy would report for the canary and the primary, in
// 30-second buckets, with the canary's share of the traffic following the route's weight.

// bucketLen is the resolution of the synthetic world: one Prometheus step.
const bucketLen = 30 * time.Second

// traffic describes a release's world.
type traffic struct {
	// RPS is the service's total request rate, split by the route's weights.
	RPS float64
	// ErrorRate is the primary's probability that a request fails.
	ErrorRate float64
	// P99 is the primary's p99 latency in ms; latencies are log-normal with shape Sigma.
	P99   float64
	Sigma float64
	// ErrorFactor and LatencyFactor scale the canary's error rate and latencies.
	ErrorFactor, LatencyFactor float64
	// Noise is the standard deviation of a per-bucket, per-workload log-normal multiplier of
	// the error rate and (a third of it) of the latency: bursty dependencies, GC pauses.
	Noise float64
	// Spikes is the probability that a workload's bucket has five times the error rate.
	Spikes float64
}

// bucket is one 30-second interval of both workloads.
type bucket struct {
	canary, primary side
}

type side struct {
	requests, errors int
	p99              float64 // as a histogram_quantile over the bucket would estimate it; NaN without requests
	trueP99          float64 // the p99 this bucket's latencies were drawn with
}

// world generates buckets lazily, up to the current time, at the current weight: the weight
// only changes at ticks, after the tick's queries, so each bucket gets the weight it had.
type world struct {
	t      traffic
	clock  *canarytest.Clock
	weight func() int

	mu      sync.Mutex
	rnd     *rand.Rand
	start   time.Time
	buckets []bucket
	first   int // index of the first bucket in which the canary had traffic; -1 before
}

func newWorld(t traffic, seed uint64, clk *canarytest.Clock, weight func() int) *world {
	return &world{t: t, clock: clk, weight: weight, rnd: rand.New(rand.NewPCG(seed, seed^0x5eed)), start: clk.Now(), first: -1}
}

// advance generates the buckets that ended by now.
func (w *world) advance() {
	n := int(w.clock.Now().Sub(w.start) / bucketLen)
	for len(w.buckets) < n {
		share := float64(w.weight()) / 100
		b := bucket{
			canary:  w.side(w.t.RPS*share, w.t.ErrorRate*w.t.ErrorFactor, w.t.P99*w.t.LatencyFactor),
			primary: w.side(w.t.RPS*(1-share), w.t.ErrorRate, w.t.P99),
		}
		if w.first < 0 && b.canary.requests > 0 {
			w.first = len(w.buckets)
		}
		w.buckets = append(w.buckets, b)
	}
}

func (w *world) side(rps, errRate, p99 float64) side {
	s := side{requests: poisson(w.rnd, rps*bucketLen.Seconds()), p99: math.NaN()}
	if w.t.Noise > 0 {
		errRate *= w.lognormalMult(w.t.Noise)
		p99 *= w.lognormalMult(w.t.Noise / 3)
	}
	if w.t.Spikes > 0 && w.rnd.Float64() < w.t.Spikes {
		errRate *= 5
	}
	s.errors = min(s.requests, poisson(w.rnd, float64(s.requests)*math.Min(1, errRate)))
	s.trueP99 = p99
	if s.requests > 0 {
		s.p99 = w.estimateP99(p99, s.requests)
	}
	return s
}

// lognormalMult is a multiplier with mean 1.
func (w *world) lognormalMult(sd float64) float64 { return math.Exp(sd*w.rnd.NormFloat64() - sd*sd/2) }

// z99 is the standard normal 0.99 quantile.
var z99 = normalQuantile(0.99)

// estimateP99 is the p99 of n latencies drawn around a true p99: the sample quantile for small
// n (with its small-sample bias), its asymptotic normal distribution for large n.
func (w *world) estimateP99(p99 float64, n int) float64 {
	sigma := w.t.Sigma
	med := p99 / math.Exp(z99*sigma)
	if n <= 200 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = med * math.Exp(sigma*w.rnd.NormFloat64())
		}
		slices.Sort(xs)
		return percentile(xs, 0.99)
	}
	// Var(q̂) = p(1−p) / (n f(q)²), f the log-normal density at q.
	density := math.Exp(-z99*z99/2) / math.Sqrt(2*math.Pi) / (p99 * sigma)
	return p99 + math.Sqrt(0.99*0.01/float64(n))/density*w.rnd.NormFloat64()
}

// poisson draws from Poisson(lambda): by inversion for small means, normal beyond.
func poisson(rnd *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rnd.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rnd.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// lastMinute is what Flagger's built-in queries see: the canary over the metric interval.
func (w *world) lastMinute() (requests, errors int, p99 float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advance()
	n := len(w.buckets)
	from := max(0, n-int(time.Minute/bucketLen))
	weighted := 0.0
	for _, b := range w.buckets[from:] {
		requests += b.canary.requests
		errors += b.canary.errors
		weighted += b.canary.trueP99 * float64(b.canary.requests)
	}
	p99 = math.NaN()
	if requests > 0 {
		p99 = w.estimateP99(weighted/float64(requests), requests)
	}
	return requests, errors, p99
}

// provider answers the built-in checks (canarytest's Builtins name the query after the check).
func (w *world) provider() canary.MetricProvider {
	return canary.MetricProviderFunc(func(_ context.Context, query string) (float64, error) {
		req, errs, p99 := w.lastMinute()
		if req == 0 {
			return 0, noDataError{"result is NaN (a ratio without traffic?)"}
		}
		switch query {
		case RequestSuccessRate:
			return (1 - float64(errs)/float64(req)) * 100, nil
		case RequestDuration:
			return p99, nil
		}
		return 0, errUnknownQuery
	})
}

var errUnknownQuery = errors.New("unknown query")

// samples is the judge's SampleSource: per-bucket values of the canary and the primary since
// the canary first had traffic, the last `window` buckets at most (range queries at a 30 s
// step with rate windows of 30 s).
func (w *world) samples(window int) SampleSource {
	return SamplesFunc(func(_ context.Context, req SampleRequest) (Samples, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.advance()
		if w.first < 0 {
			return Samples{}, nil
		}
		from := max(w.first, len(w.buckets)-window)
		var s Samples
		for _, b := range w.buckets[from:] {
			switch req.Metric {
			case "error-ratio":
				s.Canary = append(s.Canary, ratio(b.canary))
				s.Baseline = append(s.Baseline, ratio(b.primary))
			case "latency-p99":
				s.Canary = append(s.Canary, b.canary.p99)
				s.Baseline = append(s.Baseline, b.primary.p99)
			}
		}
		return s, nil
	})
}

// ratio is the bucket's error percentage; NaN without requests (0/0 in PromQL).
func ratio(s side) float64 {
	if s.requests == 0 {
		return math.NaN()
	}
	return float64(s.errors) / float64(s.requests) * 100
}

// counts is the sequential test's CountSource: the per-bucket requests and errors of the
// canary and the primary since the canary first had traffic (range queries at a 30 s step).
func (w *world) counts() CountSource {
	return CountsFunc(func(context.Context, CountRequest) ([]StepCounts, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.advance()
		if w.first < 0 {
			return nil, nil
		}
		out := make([]StepCounts, 0, len(w.buckets)-w.first)
		for i, b := range w.buckets[w.first:] {
			out = append(out, StepCounts{
				Time:    w.start.Add(time.Duration(w.first+i+1) * bucketLen),
				Canary:  Counts{Requests: float64(b.canary.requests), Errors: float64(b.canary.errors)},
				Primary: Counts{Requests: float64(b.primary.requests), Errors: float64(b.primary.errors)},
			})
		}
		return out, nil
	})
}

// canaryRequests is how many requests the canary has served so far.
func (w *world) canaryRequests() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.advance()
	n := 0
	for _, b := range w.buckets {
		n += b.canary.requests
	}
	return n
}
