package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// SplitPolicy is what a Rollout does when the traffic does not follow the weights it set: the
// canary gets far less than its weight of the requests, as measured by the mesh's own metrics
// (see SplitQueries for the rule).
type SplitPolicy string

// Split policies.
const (
	// SplitHold (the default, the zero value) warns and holds the weight: the release does not
	// advance or promote while the canary gets far less than its weight; the metric checks keep
	// running, and the release continues as soon as the traffic follows the weight again.
	SplitHold SplitPolicy = "hold"
	// SplitWarn warns and advances as if the traffic followed the weight.
	SplitWarn SplitPolicy = "warn"
	// SplitFail rolls the release back (cause CauseSplitNotFollowed).
	SplitFail SplitPolicy = "fail"
	// SplitOff measures nothing.
	SplitOff SplitPolicy = "off"
)

// SplitPolicies returns every split policy; the slice is the caller's.
func SplitPolicies() []SplitPolicy { return []SplitPolicy{SplitWarn, SplitHold, SplitFail, SplitOff} }

func (p SplitPolicy) valid() bool {
	switch p {
	case "", SplitHold, SplitWarn, SplitFail, SplitOff:
		return true
	}
	return false
}

// The split check's rule.
const (
	// SplitMinExpected is how many requests the canary must have been due in a window (the
	// window's requests × its weight) for the window to tell anything: below, the traffic is too
	// low to conclude and the window counts neither way.
	SplitMinExpected = 10
	// SplitShortTicks is how many analysis ticks in a row, each with enough requests, must find
	// the canary short (less than half its weight) before the policy applies; a tick that finds
	// the split followed starts the count again.
	SplitShortTicks = 2
)

// SplitQueries measure how the requests meant for a target's split are divided between
// primary and canary, for the split check. Each is a query template with a metric's variables
// ({{ namespace }}, {{ target }}, {{ service }}, {{ ingress }}, ...; {{ interval }} is the
// analysis interval: the time since the weight was set) whose value is a number of requests
// in that window. The metrics package has them per mesh.
//
// The rule: at an analysis tick of a weighted canary, once the weight has been in place for a
// whole interval, a window is conclusive when Total × weight ≥ SplitMinExpected, and short
// when Canary/Total < weight/2 (the window is one analysis interval: it needs at least two
// scrapes of the mesh's metrics to hold data; a window without data concludes nothing). After
// SplitShortTicks conclusive short windows in a row the
// Rollout emits a TrafficNotSplit warning (the weight set, the share measured, the likely
// causes) and applies the Spec's SplitPolicy, at every tick for as long as the canary stays
// short; under SplitHold and SplitFail, a first short window already holds the weight for one
// tick, so the release does not step on while the finding is being confirmed. A query that fails or finds no data makes the tick inconclusive; the split check
// never counts a failed check. A/B tests and blue/green releases are not measured: their
// weights do not say what share of all requests the canary gets.
type SplitQueries struct {
	// Canary counts the requests the canary answered that a split could have routed: those
	// addressed to the apex (direct requests to the canary's own Service, such as a load
	// test's, are left out where the metrics can tell them apart).
	Canary string
	// Total counts the requests primary and canary answered, likewise.
	Total string
	// Provider runs the queries. Default: Config.Metrics.
	Provider MetricProvider
}

// SplitMeasure is one window of the split check.
type SplitMeasure struct {
	// Weight is the canary weight that was set.
	Weight int
	// Canary and Total are the requests counted in the window.
	Canary, Total float64
	// Window is the window's length.
	Window time.Duration
	// Short is set when the canary got less than half its weight in a conclusive window.
	Short bool
}

// Share is the canary's measured share of the requests, in percent.
func (m SplitMeasure) Share() float64 {
	if m.Total <= 0 {
		return 0
	}
	return 100 * m.Canary / m.Total
}

// conclusive reports whether the window held enough requests to judge the split.
func (m SplitMeasure) conclusive() bool {
	return m.Total*float64(m.Weight)/100 >= SplitMinExpected
}

// splitState is the split check's memory within a Run.
type splitState struct {
	setAt    time.Time // when the canary weight last changed (zero: before this Run)
	short    int       // conclusive short windows in a row
	warnedAt int       // the weight a SplitWarn warning was last emitted for
}

// splitQueries are the rendered queries.
type splitQueries struct {
	canary, total string
	provider      MetricProvider
}

// compileSplit renders the split queries of cfg, or returns nil when the check is off.
func compileSplit(p *problems, cfg *Config, spec Spec) *splitQueries {
	sq := cfg.Split
	if sq == nil || spec.SplitCheck == SplitOff {
		return nil
	}
	vars := VarsFor(cfg.Target, Metric{Interval: spec.Interval})
	canary, err := RenderQuery(sq.Canary, vars)
	if err != nil {
		p.add("config.Split.Canary", "%v", err)
	}
	total, err2 := RenderQuery(sq.Total, vars)
	if err2 != nil {
		p.add("config.Split.Total", "%v", err2)
	}
	if err != nil || err2 != nil {
		return nil
	}
	provider := sq.Provider
	if provider == nil {
		provider = cfg.Metrics
	}
	return &splitQueries{canary: canary, total: total, provider: provider}
}

func validateSplit(p *problems, c *Config) {
	sq := c.Split
	if sq == nil {
		return
	}
	if sq.Canary == "" {
		p.add("config.Split.Canary", "required")
	}
	if sq.Total == "" {
		p.add("config.Split.Total", "required")
	}
	if sq.Provider == nil && c.Metrics == nil && c.Spec.SplitCheck != SplitOff {
		p.add("config.Metrics", "required: config.Split queries a metric provider")
	}
}

// splitVerdict is what the split check makes of a tick.
type splitVerdict int

const (
	splitAdvance splitVerdict = iota // nothing against advancing
	splitHold                        // do not advance this tick
	splitEnded                       // the release was rolled back (SplitFail)
)

// splitCheck runs the split check at an analysis tick, whatever the metric checks found (the
// traffic's mix does not depend on them). It measures only a weighted canary whose weight has
// been in place for a whole interval.
func (u *run) splitCheck(ctx context.Context) (splitVerdict, next, error) {
	q, spec := u.r.split, u.r.spec
	w := u.weights.Canary
	if q == nil || spec.Strategy() != StrategyCanary || w <= 0 || w >= 100 {
		return splitAdvance, waitTick, nil
	}
	if !u.split.setAt.IsZero() && u.r.clock.Since(u.split.setAt) < spec.Interval {
		return splitAdvance, waitTick, nil // the window would hold requests routed at the last weight
	}
	m, ok := u.measureSplit(ctx, q, w)
	if !ok || !m.conclusive() {
		return splitAdvance, waitTick, nil
	}
	if !m.Short {
		u.split.short = 0
		return splitAdvance, waitTick, nil
	}
	u.split.short++
	if u.split.short < SplitShortTicks {
		// not confirmed yet: hold and fail wait a tick before stepping on (warn never waits)
		if spec.SplitCheck == SplitWarn {
			return splitAdvance, waitTick, nil
		}
		return splitHold, waitTick, nil
	}
	msg := u.splitMessage(m)
	switch spec.SplitCheck {
	case SplitWarn:
		if u.split.warnedAt != w {
			u.split.warnedAt = w
			u.emitEvent(Event{Type: EventWarning, Reason: ReasonTrafficNotSplit, Split: &m, Message: msg + " Advancing anyway (split check: warn)."})
		}
		return splitAdvance, waitTick, nil
	case SplitFail:
		u.emitEvent(Event{Type: EventWarning, Reason: ReasonTrafficNotSplit, Split: &m, Message: msg + " Rolling back (split check: fail)."})
		n, err := u.rollback(ctx, CauseSplitNotFollowed, "",
			fmt.Sprintf("traffic not split as set: canary weight %d, measured %.1f%%", w, m.Share()))
		return splitEnded, n, err
	}
	u.emitEvent(Event{Type: EventWarning, Reason: ReasonTrafficNotSplit, Split: &m,
		Message: fmt.Sprintf("%s Holding the canary weight at %d (split check: hold).", msg, w)})
	return splitHold, waitTick, nil
}

// measureSplit runs the split queries over the last interval.
func (u *run) measureSplit(ctx context.Context, q *splitQueries, weight int) (SplitMeasure, bool) {
	ctx, cancel := context.WithTimeout(ctx, u.r.spec.Interval)
	defer cancel()
	m := SplitMeasure{Weight: weight, Window: u.r.spec.Interval}
	var cerr error
	done := make(chan struct{})
	go func() { // both in one round trip's time
		defer close(done)
		m.Canary, cerr = q.provider.Query(ctx, q.canary)
	}()
	total, err := q.provider.Query(ctx, q.total)
	<-done
	m.Total = total
	switch {
	case err != nil:
	case errors.Is(cerr, ErrNoData) && m.Total > 0:
		m.Canary = 0 // no canary series: the canary answered nothing
	default:
		err = cerr
	}
	if err != nil || math.IsNaN(m.Total) || math.IsNaN(m.Canary) || m.Total <= 0 || m.Canary < 0 {
		if err != nil {
			u.r.log.V(1).Info("split check inconclusive", "error", err.Error())
		}
		return m, false
	}
	m.Short = m.Canary/m.Total < float64(weight)/200
	return m, true
}

// splitMessage says in plain words what the split check found.
func (u *run) splitMessage(m SplitMeasure) string {
	return fmt.Sprintf("Traffic to %s does not follow the split: the canary's weight is %d%% but it answered %.1f%% of the %.0f requests of the last %s (%d checks in a row)."+
		" Likely causes: clients or an ingress outside the mesh send to the pods directly, bypassing the split;"+
		" the mesh does not read this route object (an API version it does not serve, another mesh's object);"+
		" or the mesh rejected the route.",
		u.r.target, m.Weight, m.Share(), m.Total, PromDuration(m.Window), u.split.short)
}
