package progress_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/progress"
	"github.com/stretchr/testify/assert"
)

func TestCheckSaysTheVerdictInWords(t *testing.T) {
	for _, c := range []struct {
		check canary.CheckResult
		want  string
	}{
		{canary.CheckResult{Name: "request-duration", Value: 111.875, Threshold: canary.AtMost(500), Verdict: canary.VerdictPass}, "✔ request-duration 111.88 <= 500"},
		{canary.CheckResult{Name: "request-success-rate", Value: 90.69, Threshold: canary.AtLeast(99), Verdict: canary.VerdictFail}, "✘ request-success-rate 90.69 (want >= 99)"},
		{canary.CheckResult{Name: "cpu", Value: 7, Threshold: canary.Between(1, 5), Verdict: canary.VerdictFail}, "✘ cpu 7.00 (want in [1, 5])"},
		{canary.CheckResult{Name: "cpu", Value: 3, Threshold: canary.Between(1, 5), Verdict: canary.VerdictPass}, "✔ cpu 3.00 in [1, 5]"},
		{canary.CheckResult{Name: "judge", Value: 100, Verdict: canary.VerdictPass}, "✔ judge 100.00"},
		{canary.CheckResult{Name: "judge", Value: 20, Verdict: canary.VerdictFail}, "✘ judge 20.00 (failed)"},
		{canary.CheckResult{Name: "request-duration", Verdict: canary.VerdictNoData}, "? request-duration no data"},
		{canary.CheckResult{Name: "judge", Value: 62, Verdict: canary.VerdictInconclusive}, "? judge inconclusive"},
		{canary.CheckResult{Name: "request-success-rate", Verdict: canary.VerdictUnavailable}, "? request-success-rate unavailable"},
		{canary.CheckResult{Name: "errors", Verdict: canary.VerdictError, Err: errors.New("connection refused")}, "✘ errors error"},
		{canary.CheckResult{Name: "odd", Verdict: "Sideways\x1b[2J"}, "? odd sideways�[2j"},
	} {
		assert.Equal(t, c.want, progress.Check(c.check))
	}
	colored := progress.Style{Color: true}.Check(canary.CheckResult{Name: "sr", Value: 1, Threshold: canary.AtLeast(99), Verdict: canary.VerdictFail})
	assert.Equal(t, "\x1b[31m✘\x1b[0m sr 1.00 (want >= 99)", colored, "colour wraps the mark; the words stay")
}

// halt is the event of a tick where the success rate failed and the duration passed.
func halt() canary.Event {
	return canary.Event{Type: canary.EventWarning, Reason: canary.ReasonHalted, Check: "request-success-rate",
		Message: "Halt podinfo.test advancement request-success-rate 90.69 < 99", Weights: canary.CanaryWeight(5),
		Checks: []canary.CheckResult{
			{Name: "request-success-rate", Query: "sum(success)", Value: 90.69, Threshold: canary.AtLeast(99), Verdict: canary.VerdictFail,
				Message: "request-success-rate 90.69 < 99"},
			{Name: "request-duration", Query: "histogram_quantile(0.99,\n  sum(rate(bucket[1m])) by (le))", Value: 111.88, Threshold: canary.AtMost(500), Verdict: canary.VerdictPass},
		}}
}

func TestLineNamesTheFailedCheckOnce(t *testing.T) {
	line := progress.Line(7*time.Minute, halt())
	assert.Equal(t, "00:07:00  Warning  Halt podinfo.test advancement request-success-rate 90.69 < 99  ✔ request-duration 111.88 <= 500", line)
	assert.Equal(t, 1, strings.Count(line, "request-success-rate"))
	assert.NotContains(t, line, "[", "a halt moves no traffic: no bar")
}

func TestVerboseAddsQueriesAndErrors(t *testing.T) {
	e := halt()
	e.Checks = append(e.Checks, canary.CheckResult{Name: "error-rate", Query: "sum(errors)", Verdict: canary.VerdictNoData,
		Err: errors.New("no data: empty result")})
	assert.Equal(t, strings.Join([]string{
		"00:07:00  Warning  Halt podinfo.test advancement request-success-rate 90.69 < 99  ✔ request-duration 111.88 <= 500  ? error-rate no data",
		"          request-success-rate: query sum(success)",
		"          request-duration: query histogram_quantile(0.99,",
		"              sum(rate(bucket[1m])) by (le))",
		"          error-rate: no data: empty result",
		"          error-rate: query sum(errors)",
	}, "\n"), progress.Style{Verbose: true}.Line(7*time.Minute, e), "the failed check's reason is in the message already; its query is not")

	held := canary.Event{Type: canary.EventWarning, Reason: canary.ReasonNoData, Check: "error-rate",
		Message: "Halt advancement no values found for metric error-rate probably podinfo.test is not receiving traffic: query sum(errors) (holding)",
		Checks:  []canary.CheckResult{{Name: "error-rate", Query: "sum(errors)", Verdict: canary.VerdictNoData, Err: errors.New("empty result")}}}
	assert.Equal(t, "00:00:30  Warning  "+held.Message+"\n          error-rate: empty result",
		progress.Style{Verbose: true}.Line(30*time.Second, held), "a query the message quotes is not repeated")
}

func TestLineDrawsTheBarWhenTrafficMoves(t *testing.T) {
	adv := canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: "Advance podinfo.test canary weight 15",
		Weights: canary.CanaryWeight(15), Checks: []canary.CheckResult{{Name: "request-duration", Verdict: canary.VerdictNoData}}}
	assert.Equal(t, "00:01:30  Normal   Advance podinfo.test canary weight 15  [###.................]  ? request-duration no data",
		progress.Line(90*time.Second, adv))
	ab := canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: "Advance podinfo.test canary iteration 2/10",
		Weights: canary.AllCanary(), Target: canary.Target{Match: []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "1"}}}}}}
	assert.Equal(t, "01:00:05  Normal   Advance podinfo.test canary iteration 2/10", progress.Line(time.Hour+5*time.Second, ab),
		"an A/B test routes matching requests only: a full bar would mislead")
}

func TestLineCutsAndCleansWhatItQuotes(t *testing.T) {
	e := canary.Event{Type: canary.EventWarning, Reason: canary.ReasonError, Message: "error:\n" + strings.Repeat("x", 1000) + "\x1b[2J"}
	line := progress.Line(0, e)
	assert.NotContains(t, line, "\n")
	assert.NotContains(t, line, "\x1b")
	assert.True(t, strings.HasSuffix(line, "x…"), "cut, and the cut marked")
	assert.Less(t, len([]rune(line)), 450)
	assert.Equal(t, "00:00:00  Normal   caf� \u00e9t\u00e9 �x", progress.Line(-time.Second, canary.Event{Type: canary.EventNormal, Message: "caf\xff \u00e9t\u00e9 \u202ex"}),
		"invalid UTF-8 and bidirectional overrides are replaced; elapsed never goes below zero")
}

// A mirrored step says so beside its bar: the canary gets copies of requests at weight 0.
func TestLineSaysTheStepIsMirrored(t *testing.T) {
	e := canary.Event{Type: canary.EventNormal, Reason: canary.ReasonAdvanced, Message: "Advance podinfo.test canary weight 0",
		Weights: canary.MirrorToCanary()}
	assert.Equal(t, "00:00:30  Normal   Advance podinfo.test canary weight 0  [....................] mirrored", progress.Line(30*time.Second, e))
	e.Message, e.Weights = "Advance podinfo.test canary weight 10", canary.CanaryWeight(10)
	assert.Equal(t, "00:00:30  Normal   Advance podinfo.test canary weight 10  [##..................]", progress.Line(30*time.Second, e))
}

func TestBarAndElapsed(t *testing.T) {
	assert.Equal(t, "[####################]", progress.Bar(100))
	assert.Equal(t, "[....................]", progress.Bar(-5))
	assert.Equal(t, "[##########..........]", progress.Bar(50))
	assert.Equal(t, "26:03:04", progress.Elapsed(26*time.Hour+3*time.Minute+4*time.Second))
}

// Printable escapes what a terminal acts on, as Go writes it, and keeps the rest whole.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain: rev-1 (a\tb) é ✓": "plain: rev-1 (a\tb) é ✓",
		"\x1b]0;title\a\x1b[2J":   `\x1b]0;title\a\x1b[2J`,
		"one\r\ntwo":              `one\r\ntwo`,
		"\u009b31m C1 CSI":        `\u009b31m C1 CSI`,
		"abc\u202edcba":           `abc\u202edcba`,
		"bad \xff byte":           `bad \xff byte`,
		"del\x7f":                 `del\x7f`,
	} {
		assert.Equal(t, want, progress.Printable(in), "%q", in)
	}
}
