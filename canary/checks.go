package canary

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// verdict is the outcome of one analysis tick's checks.
type verdict int

const (
	verdictPass verdict = iota
	verdictHold         // a NoDataHold check had no data: neither advance nor count
	verdictFail
)

// runChecks runs every metric check (all of them, so every result is reported) and combines
// their verdicts under each metric's no-data policy.
func (u *run) runChecks(ctx context.Context) ([]CheckResult, verdict) {
	results := make([]CheckResult, 0, len(u.r.checks))
	out := verdictPass
	for _, c := range u.r.checks {
		res := u.runCheck(ctx, c)
		results = append(results, res)
		switch {
		case res.Passed(c.metric.OnNoData):
		case (res.Verdict == VerdictNoData || res.Verdict == VerdictInconclusive) && c.metric.OnNoData == NoDataHold:
			out = max(out, verdictHold)
		default:
			out = verdictFail
		}
	}
	if out == verdictHold {
		for _, r := range results {
			if r.Verdict == VerdictNoData || r.Verdict == VerdictInconclusive {
				u.emitEvent(Event{Type: EventWarning, Reason: ReasonNoData, Check: r.Name, Checks: results, Message: u.haltMessage(r) + " (holding)"})
			}
		}
	}
	return results, out
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
			if errors.Is(err, ErrNoData) {
				res.Verdict = VerdictNoData
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
		msg := fmt.Sprintf("Halt advancement no values found for metric %s probably %s is not receiving traffic", c.Name, t)
		if c.Query != "" {
			msg += ": query " + c.Query
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
