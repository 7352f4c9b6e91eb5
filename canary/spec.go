package canary

import (
	"fmt"
	"strconv"
	"time"
)

// Spec is a release's analysis, field for field Flagger's Canary `analysis` section, so a Flagger
// manifest converts 1:1. Zero fields mean "default"; Validate reports every problem at once.
type Spec struct {
	// Interval between the starts of analysis ticks. Default 60s. Ticks run at a fixed rate,
	// as Flagger's ticker does: the time a tick spends does not delay the next one, and a tick
	// that takes longer than Interval is followed by the next at once. With Config.Stagger they
	// fall on the target's own grid of Interval (kube/driver's default).
	Interval time.Duration
	// Threshold is the number of failed checks that triggers a rollback. Default 1.
	Threshold int
	// MaxWeight is the canary weight at which promotion starts, 1..100. Default 100. Not used
	// with StepWeights (their last entry is the maximum).
	MaxWeight int
	// StepWeight is the canary weight increment per tick, 1..100. Required for a weighted
	// canary unless StepWeights is set.
	StepWeight int
	// StepWeights lists the canary weights to go through, strictly increasing.
	StepWeights []int
	// StepWeightPromotion shifts traffic back to the promoted primary by this much per tick;
	// 0 shifts all at once.
	StepWeightPromotion int
	// Iterations selects blue/green (alone) or A/B testing (with Match): the number of analysis
	// iterations before promotion.
	Iterations int
	// Match routes only matching requests to the canary (A/B testing). Requires Iterations.
	Match []Match
	// Mirror copies requests to the canary, whose responses are dropped, before it gets any
	// (Flagger's traffic mirroring): a weighted canary takes one mirrored step with all traffic
	// on the primary before its first weight; blue/green mirrors during all its iterations,
	// until all traffic goes to the canary. Not with A/B testing (Match). The router must be
	// able to mirror (ErrMirrorUnsupported otherwise).
	Mirror bool
	// MirrorWeight is the share of requests mirrored, in percent, 0..100; 0: every request.
	// Only with Mirror.
	MirrorWeight int
	// SessionAffinity keeps clients that reached the canary on it with a cookie, as Flagger's
	// analysis.sessionAffinity does; nil: none. Not with A/B testing (Match). The router must
	// support it (ErrSessionAffinityUnsupported otherwise).
	SessionAffinity *SessionAffinity
	// Metrics are checked at every analysis tick.
	Metrics []Metric
	// Webhooks are the release's hooks and gates.
	Webhooks []Webhook
	// ProgressDeadline bounds how long the canary (or, while promoting, the primary) may stay
	// not ready before the release fails. Default 600s (Flagger's progressDeadlineSeconds).
	ProgressDeadline time.Duration
	// SkipAnalysis promotes as soon as the canary is ready.
	SkipAnalysis bool
	// SplitCheck is what a weighted release does when the canary gets far less traffic than
	// its weight (see SplitQueries): SplitHold (the default), SplitWarn, SplitFail or SplitOff.
	// Not a Flagger field: a Flagger Canary sets it with the canarykit.dev/split-check annotation.
	SplitCheck SplitPolicy
}

// Defaults Flagger users expect.
const (
	DefaultInterval         = 60 * time.Second
	DefaultThreshold        = 1
	DefaultMaxWeight        = 100
	DefaultProgressDeadline = 600 * time.Second
	DefaultMetricInterval   = time.Minute
	DefaultHookTimeout      = 10 * time.Second
)

// Bounds on what a Spec may ask for: below or above them a value is a mistake or an attack
// (an interval of 1ns, a hook retried for years), and Validate refuses it by field path.
const (
	// MinInterval is the shortest analysis interval: a tick reads and writes the cluster and
	// cannot usefully run more often. Flagger's manifests are held to a second by the loader.
	MinInterval = 100 * time.Millisecond
	// MinMetricInterval is the shortest metric look-back window ({{ interval }}); a PromQL
	// range below a second selects nothing useful.
	MinMetricInterval = time.Second
	// MaxHookRetries bounds a webhook's retries: with the default 10s timeout and the pause
	// between attempts, 20 retries already allow about 7 minutes for one call.
	MaxHookRetries = 20
)

// Strategy is how a release shifts traffic, derived from the Spec as Flagger derives it.
type Strategy string

// Strategies.
const (
	StrategyCanary    Strategy = "Canary"    // progressive weights
	StrategyABTesting Strategy = "ABTesting" // iterations + match
	StrategyBlueGreen Strategy = "BlueGreen" // iterations alone
)

// Strategy returns the release strategy: A/B with Iterations and Match, blue/green with
// Iterations alone, otherwise a weighted canary.
func (s Spec) Strategy() Strategy {
	switch {
	case s.Iterations > 0 && len(s.Match) > 0:
		return StrategyABTesting
	case s.Iterations > 0:
		return StrategyBlueGreen
	}
	return StrategyCanary
}

// withDefaults returns s with zero fields set to their defaults.
func (s Spec) withDefaults() Spec {
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Threshold == 0 {
		s.Threshold = DefaultThreshold
	}
	if s.MaxWeight == 0 {
		s.MaxWeight = DefaultMaxWeight
	}
	if s.ProgressDeadline == 0 {
		s.ProgressDeadline = DefaultProgressDeadline
	}
	ms := make([]Metric, len(s.Metrics))
	for i, m := range s.Metrics {
		m.Interval = m.EffectiveInterval()
		ms[i] = m
	}
	s.Metrics = ms
	hs := make([]Webhook, len(s.Webhooks))
	for i, h := range s.Webhooks {
		if h.Type == "" {
			h.Type = HookRollout
		}
		if h.Timeout == 0 {
			h.Timeout = DefaultHookTimeout
		}
		hs[i] = h
	}
	s.Webhooks = hs
	s.Match = cloneMatches(s.Match)
	if s.SessionAffinity != nil {
		a := *s.SessionAffinity
		if a.MaxAge == 0 {
			a.MaxAge = DefaultCookieMaxAge
		}
		s.SessionAffinity = &a
	}
	return s
}

// mirrorPercent is the share of requests a mirrored route copies to the canary (Target.Mirror):
// 0 without Mirror.
func (s Spec) mirrorPercent() int {
	switch {
	case !s.Mirror:
		return 0
	case s.MirrorWeight == 0:
		return 100
	}
	return s.MirrorWeight
}

// maxWeight is the weight at which promotion starts.
func (s Spec) maxWeight() int {
	if n := len(s.StepWeights); n > 0 {
		return min(100, s.StepWeights[n-1])
	}
	return s.MaxWeight
}

// nextWeight returns the canary weight after current, capped at the maximum.
func (s Spec) nextWeight(current int) int {
	if len(s.StepWeights) == 0 {
		return min(current+s.StepWeight, s.maxWeight())
	}
	for _, w := range s.StepWeights {
		if w > current {
			return min(w, 100)
		}
	}
	return s.maxWeight()
}

// Metric is one analysis check (Flagger's analysis.metrics entry): a query whose value must lie
// within ThresholdRange, or a Checker bound to the metric's name in Config.Checkers.
type Metric struct {
	// Name identifies the check; with no Query, it names a built-in (Config.Builtins) or a Checker.
	Name string
	// Interval is the query's look-back window, the {{ interval }} variable. Default 1m.
	Interval time.Duration
	// ThresholdRange is the accepted range of values.
	ThresholdRange Range
	// Query is a Go text/template with Flagger's variables: {{ name }}, {{ namespace }},
	// {{ target }}, {{ service }}, {{ interval }}, {{ variables.<key> }}.
	Query string
	// Variables fill {{ variables.<key> }} (Flagger's templateVariables); a missing key is an error.
	// A value holds no quote, backslash or control character (Validate): a template keeps it
	// in a string of the query, which it must not end. Flagger pastes them as they are, so
	// that a Canary's author could add any query to a shared MetricTemplate's and run it with
	// the template's provider and credentials.
	Variables map[string]string
	// OnNoData says what an empty or NaN result does. Default NoDataFail (Flagger's behaviour).
	OnNoData NoDataPolicy
	// Provider runs this metric's query instead of Config.Metrics: a metric read from another
	// server, as a Flagger MetricTemplate names its own provider. Default: Config.Metrics.
	Provider MetricProvider
	// DryRun evaluates the metric at every tick and reports its result (CheckResult.DryRun, in
	// the tick's events, and a DryRun event when it does not pass) without letting it decide
	// anything: it never counts as a failed check, never holds a step and never passes one. A
	// way to trial a new query on live releases before trusting it.
	DryRun bool
}

// EffectiveInterval is the metric's look-back window: Interval, or DefaultMetricInterval when
// it is unset (the {{ interval }} a query gets).
func (m Metric) EffectiveInterval() time.Duration {
	if m.Interval == 0 {
		return DefaultMetricInterval
	}
	return m.Interval
}

// NoDataPolicy is what a check without data does to the analysis.
type NoDataPolicy string

// No-data policies.
const (
	// NoDataFail counts a failed check (Flagger's behaviour; the zero value).
	NoDataFail NoDataPolicy = "fail"
	// NoDataHold neither advances nor counts a failed check: the tick is repeated.
	NoDataHold NoDataPolicy = "hold"
	// NoDataIgnore treats the check as passed.
	NoDataIgnore NoDataPolicy = "ignore"
)

func (p NoDataPolicy) valid() bool {
	switch p {
	case "", NoDataFail, NoDataHold, NoDataIgnore:
		return true
	}
	return false
}

// Range bounds a metric's accepted values; a nil bound is open.
type Range struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// AtLeast returns the range [min, +inf).
func AtLeast(min float64) Range { return Range{Min: &min} }

// AtMost returns the range (-inf, max].
func AtMost(max float64) Range { return Range{Max: &max} }

// Between returns the range [min, max].
func Between(min, max float64) Range { return Range{Min: &min, Max: &max} }

// Contains reports whether v lies within the range.
func (r Range) Contains(v float64) bool {
	if r.Min != nil && v < *r.Min {
		return false
	}
	if r.Max != nil && v > *r.Max {
		return false
	}
	return true
}

// IsZero reports whether neither bound is set.
func (r Range) IsZero() bool { return r.Min == nil && r.Max == nil }

// Violation describes how v falls outside the range, as Flagger's events put it ("90.00 < 99"),
// or returns "" when v is within it.
func (r Range) Violation(v float64) string {
	if r.Min != nil && v < *r.Min {
		return fmt.Sprintf("%.2f < %s", v, fmtValue(*r.Min))
	}
	if r.Max != nil && v > *r.Max {
		return fmt.Sprintf("%.2f > %s", v, fmtValue(*r.Max))
	}
	return ""
}

func (r Range) String() string {
	switch {
	case r.Min != nil && r.Max != nil:
		return fmt.Sprintf("[%s, %s]", fmtValue(*r.Min), fmtValue(*r.Max))
	case r.Min != nil:
		return ">= " + fmtValue(*r.Min)
	case r.Max != nil:
		return "<= " + fmtValue(*r.Max)
	}
	return "any"
}

func fmtValue(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// HookType is a webhook's kind, as Flagger names it.
type HookType string

// Hook types, Flagger's webhook types (see Gate for what an answer means for each).
const (
	HookConfirmRollout         HookType = "confirm-rollout"
	HookPreRollout             HookType = "pre-rollout"
	HookRollout                HookType = "rollout"
	HookConfirmTrafficIncrease HookType = "confirm-traffic-increase"
	HookConfirmPromotion       HookType = "confirm-promotion"
	HookPostRollout            HookType = "post-rollout"
	HookRollback               HookType = "rollback"
	HookEvent                  HookType = "event"
)

// HookTypes returns every hook type, in the order of a release; the slice is the caller's.
func HookTypes() []HookType {
	return []HookType{HookConfirmRollout, HookPreRollout, HookRollout, HookConfirmTrafficIncrease,
		HookConfirmPromotion, HookPostRollout, HookRollback, HookEvent}
}

func (t HookType) valid() bool {
	for _, k := range HookTypes() {
		if t == k {
			return true
		}
	}
	return false
}

// Webhook is a hook or gate the release calls (Flagger's analysis.webhooks entry). The Rollout
// runs it through Config.Webhooks.
type Webhook struct {
	Name string
	// Type defaults to HookRollout, as in Flagger.
	Type HookType
	URL  string
	// Timeout per call. Default 10s.
	Timeout time.Duration
	// Retries on connection errors and 5xx responses; at most MaxHookRetries.
	Retries int
	// Metadata is sent in the payload's "metadata" field.
	Metadata  map[string]string
	MuteAlert bool
	// DisableTLS skips verification of the hook's TLS certificate (Flagger's disableTLS).
	DisableTLS bool
}
