package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// verdict is the outcome of one analysis tick's checks.
type verdict int

const (
	verdictPass verdict = iota
	verdictHold         // a NoDataHold check had no data, or a provider was unavailable: neither advance nor count
	verdictFail
)

// runChecks runs every metric check (all of them, so every result is reported; each in a
// goroutine of its own when there are several, so that a tick takes its slowest query's time
// rather than the sum of them) and combines their verdicts, in the Spec's order, under each
// metric's no-data policy. A check whose provider was unavailable holds the step until
// providers have been unavailable for the progress deadline (counted from the first of
// consecutive ticks with an unavailable check); from then on it fails.
func (u *run) runChecks(ctx context.Context) ([]CheckResult, verdict) {
	results := make([]CheckResult, len(u.r.checks))
	if len(u.r.checks) == 1 {
		results[0] = u.runCheck(ctx, u.r.checks[0])
	} else {
		var wg sync.WaitGroup
		panics := make([]any, len(u.r.checks))
		for i, c := range u.r.checks {
			wg.Go(func() {
				defer func() { panics[i] = recover() }()
				results[i] = u.runCheck(ctx, c)
			})
		}
		wg.Wait()
		for _, p := range panics {
			if p != nil {
				panic(p) // a Checker's panic goes up Run's goroutine, as it would without the goroutines
			}
		}
	}
	out := verdictPass
	unavailable := false
	for i, c := range u.r.checks {
		res := &results[i]
		res.DryRun = c.metric.DryRun
		switch {
		case res.DryRun: // reported below, never counted
		case res.Passed(c.metric.OnNoData):
		case res.Verdict == VerdictUnavailable:
			unavailable = true
			out = max(out, verdictHold)
		case (res.Verdict == VerdictNoData || res.Verdict == VerdictInconclusive) && c.metric.OnNoData == NoDataHold:
			out = max(out, verdictHold)
		default:
			out = verdictFail
		}
	}
	if !unavailable {
		u.unavailableSince = time.Time{}
	} else if now := u.r.clock.Now(); u.unavailableSince.IsZero() {
		u.unavailableSince = now
	} else if now.Sub(u.unavailableSince) >= u.r.spec.ProgressDeadline {
		out = verdictFail // held long enough: count it
	}
	u.reportDryRuns(results)
	if out == verdictHold {
		for _, r := range results {
			if r.DryRun {
				continue
			}
			switch r.Verdict {
			case VerdictNoData, VerdictInconclusive:
				u.emitEvent(Event{Type: EventWarning, Reason: ReasonNoData, Check: r.Name, Checks: results, Message: u.haltMessage(r) + " (holding)"})
			case VerdictUnavailable:
				u.emitEvent(Event{Type: EventWarning, Reason: ReasonUnavailable, Check: r.Name, Checks: results, Message: u.haltMessage(r) + " (holding)"})
			}
		}
	}
	return results, out
}

// reportDryRuns emits a DryRun event for each dry-run result that did not pass: its verdict
// in Flagger's words, marked as not counted.
func (u *run) reportDryRuns(results []CheckResult) {
	for _, r := range results {
		if r.DryRun && r.Verdict != VerdictPass {
			u.emitEvent(Event{Type: EventNormal, Reason: ReasonDryRun, Check: r.Name, Checks: results,
				Message: fmt.Sprintf("Dry-run metric %s of %s: %s (%s, not counted)", r.Name, u.r.target, r.Message, strings.ToLower(string(r.Verdict)))})
		}
	}
}

// runCheck runs one check, its Checker or its query against the provider and threshold, bounded
// by the analysis interval.
func (u *run) runCheck(ctx context.Context, c check) CheckResult {
	m := c.metric
	ctx, cancel := context.WithTimeout(ctx, u.r.spec.Interval)
	defer cancel()
	if c.checker != nil {
		res, err := c.checker.Check(ctx, CheckRequest{Metric: m, Target: u.r.target, Revision: u.st.LastAppliedSpec,
			CanaryWeight: u.st.CanaryWeight, Iteration: u.st.Iterations, Started: u.st.StartedAt, Interval: u.r.spec.Interval})
		if res.Name == "" {
			res.Name = m.Name
		}
		if err != nil {
			res.Err = err
			res.Verdict = VerdictError
			switch {
			case errors.Is(err, ErrNoData):
				res.Verdict = VerdictNoData
			case errors.Is(err, ErrUnavailable):
				res.Verdict = VerdictUnavailable
			}
			if res.Message == "" {
				res.Message = err.Error()
			}
		}
		if res.Verdict == "" {
			res.Verdict = VerdictError
			res.Message = "checker returned no verdict"
		}
		return res
	}
	res := CheckResult{Name: m.Name, Query: c.query, Threshold: m.ThresholdRange}
	v, err := c.provider.Query(ctx, c.query)
	switch {
	case err == nil && math.IsNaN(v):
		err = fmt.Errorf("%w: result is NaN", ErrNoData)
		fallthrough
	case errors.Is(err, ErrNoData):
		res.Verdict, res.Err = VerdictNoData, err
		res.Message = fmt.Sprintf("no values found for metric %s: %v", m.Name, err)
	case errors.Is(err, ErrUnavailable):
		res.Verdict, res.Err = VerdictUnavailable, err
		res.Message = fmt.Sprintf("metric %s not measured: %v", m.Name, err)
	case err != nil:
		res.Verdict, res.Err = VerdictError, err
		res.Message = fmt.Sprintf("metric query failed for %s: %v", m.Name, err)
	default:
		res.Value = v
		res.Verdict = VerdictPass
		if !m.ThresholdRange.Contains(v) {
			res.Verdict = VerdictFail
			res.Message = fmt.Sprintf("%s %s", m.Name, m.ThresholdRange.Violation(v))
		}
	}
	return res
}

// haltMessage words a failed check as Flagger's events do, with the resolved query where the
// value alone does not explain the failure.
func (u *run) haltMessage(c CheckResult) string {
	t := u.r.target
	switch c.Verdict {
	case VerdictFail:
		return fmt.Sprintf("Halt %s advancement %s", t, c.Message)
	case VerdictInconclusive:
		return fmt.Sprintf("Halt %s advancement %s", t, c.Message)
	case VerdictNoData:
		msg := fmt.Sprintf("Halt advancement no values found for metric %s probably %s is not receiving traffic", c.Name, t.workload())
		if c.Query != "" {
			msg += ": query " + c.Query
		}
		return msg
	case VerdictUnavailable:
		msg := fmt.Sprintf("Halt %s advancement %s", t, c.Message)
		if !u.unavailableSince.IsZero() {
			if d := u.r.clock.Since(u.unavailableSince); d >= u.r.spec.ProgressDeadline {
				msg += fmt.Sprintf(" (unavailable for %s, past the progress deadline: counted as a failed check)", d)
			}
		}
		return msg
	}
	msg := fmt.Sprintf("Halt %s advancement %s", t, c.Message)
	if c.Query != "" {
		msg += ": query " + c.Query
	}
	return msg
}

// policy returns the no-data policy of the named metric.
func (u *run) policy(name string) NoDataPolicy {
	for _, c := range u.r.checks {
		if c.metric.Name == name {
			return c.metric.OnNoData
		}
	}
	return NoDataFail
}
