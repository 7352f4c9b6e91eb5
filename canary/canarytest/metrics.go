package canarytest

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"k8s.io/utils/clock"
)

// Sample is what a Signal sees when the metric is queried.
type Sample struct {
	// Weight is the canary's current weight (from Metrics.Weight).
	Weight int
	// Elapsed is the time since the Metrics' first query (in its clock).
	Elapsed time.Duration
	// Call counts the queries of this signal, from 1.
	Call int
	// Rand is the query's own seeded source, for noise: a query's values do not depend on
	// the order in which it and other queries were asked.
	Rand *rand.Rand
}

// Signal produces a metric's value; NaN means no data.
type Signal func(Sample) float64

// Metrics is a canary.MetricProvider driven by scenario signals, keyed by query (for built-in
// checks wired by Env.Config, the query is the metric's name). An unknown query is an error.
// Safe for concurrent use.
type Metrics struct {
	// Clock measures Sample.Elapsed; nil leaves it zero.
	Clock clock.PassiveClock
	// Weight reports the canary weight for Sample.Weight; nil leaves it zero.
	Weight func() int
	// Seed seeds Sample.Rand, with the query; the same seed replays the same noise.
	Seed uint64
	// Calls counts Query calls (under "Query").
	Calls Calls

	mu      sync.Mutex
	signals map[string]Signal
	calls   map[string]int
	rnds    map[string]*rand.Rand
	start   time.Time
}

var _ canary.MetricProvider = (*Metrics)(nil)

// Set makes query return s.
func (m *Metrics) Set(query string, s Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.signals == nil {
		m.signals = map[string]Signal{}
	}
	m.signals[query] = s
}

// Query evaluates the query's signal.
func (m *Metrics) Query(ctx context.Context, query string) (float64, error) {
	if err := m.Calls.record(ctx, "Query"); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.signals[query]
	if !ok {
		return 0, fmt.Errorf("canarytest metrics: no signal for query %q", query)
	}
	if m.calls == nil {
		m.calls, m.rnds = map[string]int{}, map[string]*rand.Rand{}
		if m.Clock != nil {
			m.start = m.Clock.Now()
		}
	}
	rnd := m.rnds[query]
	if rnd == nil {
		h := fnv.New64a()
		h.Write([]byte(query))
		rnd = rand.New(rand.NewPCG(m.Seed, m.Seed^0x9e3779b97f4a7c15^h.Sum64()))
		m.rnds[query] = rnd
	}
	m.calls[query]++
	smp := Sample{Call: m.calls[query], Rand: rnd}
	if m.Clock != nil {
		smp.Elapsed = m.Clock.Since(m.start)
	}
	if m.Weight != nil {
		smp.Weight = m.Weight()
	}
	v := s(smp)
	if math.IsNaN(v) {
		return 0, fmt.Errorf("%w for query %q", canary.ErrNoData, query)
	}
	return v, nil
}

// Constant always returns v.
func Constant(v float64) Signal { return func(Sample) float64 { return v } }

// NoData always reports no data (an empty result, or NaN from 0/0 without traffic).
func NoData() Signal { return Constant(math.NaN()) }

// Normal returns mean plus Gaussian noise of the given standard deviation, clamped to
// [lo, hi] (e.g. 0..100 for a success rate).
func Normal(mean, stddev, lo, hi float64) Signal {
	return func(s Sample) float64 {
		return math.Min(hi, math.Max(lo, mean+stddev*s.Rand.NormFloat64()))
	}
}

// ByWeight computes the value from the canary weight.
func ByWeight(f func(weight int) float64) Signal {
	return func(s Sample) float64 { return f(s.Weight) }
}

// Sequence returns the values in query order, repeating the last one.
func Sequence(vals ...float64) Signal {
	return func(s Sample) float64 {
		if len(vals) == 0 {
			return math.NaN()
		}
		return vals[min(s.Call, len(vals))-1]
	}
}

// After switches from before to after once d has elapsed since the first query.
func After(d time.Duration, before, after Signal) Signal {
	return func(s Sample) float64 {
		if s.Elapsed >= d {
			return after(s)
		}
		return before(s)
	}
}

// FromCall switches from before to after at the n-th query (1-based).
func FromCall(n int, before, after Signal) Signal {
	return func(s Sample) float64 {
		if s.Call >= n {
			return after(s)
		}
		return before(s)
	}
}
