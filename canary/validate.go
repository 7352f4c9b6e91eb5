package canary

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FieldError is one problem with one field, named by its path in Flagger's manifest terms
// (e.g. "analysis.stepWeight") or, for wiring, in Config terms (e.g. "config.Router").
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// FieldPath appends a mapping key to a FieldError's path: path.key, or path["key"] (quoted,
// cut short) for a key that is not plain letters, digits and -_./ (a key may come from a
// manifest).
func FieldPath(path, key string) string {
	plain := key != "" && len(key) <= 128
	for _, c := range key {
		if !plain {
			break
		}
		plain = c < 0x80 && (c == '-' || c == '_' || c == '.' || c == '/' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
	}
	switch {
	case !plain:
		const limit = 64
		if len(key) > limit {
			return fmt.Sprintf("%s[%q…]", path, key[:limit])
		}
		return fmt.Sprintf("%s[%q]", path, key)
	case path == "":
		return key
	}
	return path + "." + key
}

// ValidationError lists every problem found; errors.Is(err, ErrInvalidSpec) holds.
type ValidationError struct {
	Problems []FieldError
	// Subject names what is invalid in the message ("invalid <Subject>: ..."). Default
	// "rollout".
	Subject string
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	subject := e.Subject
	if subject == "" {
		subject = "rollout"
	}
	return "invalid " + subject + ": " + strings.Join(msgs, "; ")
}

// Is makes errors.Is(err, ErrInvalidSpec) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidSpec }

// problems accumulates FieldErrors.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// Validate checks the spec on its own and reports all problems at once. Checks that depend on
// the wiring (built-in queries, checkers, the webhook runner) are made by New.
func (s Spec) Validate() error {
	var p problems
	s.validate(&p)
	return p.err()
}

func (s Spec) validate(p *problems) {
	const a = "analysis."
	switch {
	case s.Interval < 0:
		p.add(a+"interval", "must be positive, got %s", s.Interval)
	case s.Interval > 0 && s.Interval < MinInterval:
		p.add(a+"interval", "must be at least %s, got %s", MinInterval, s.Interval)
	}
	if s.Threshold < 0 {
		p.add(a+"threshold", "must be at least 1, got %d", s.Threshold)
	}
	if !s.SplitCheck.valid() {
		p.add("splitCheck", "must be one of warn, hold, fail, off (default hold), got %q", cut(string(s.SplitCheck)))
	}
	if s.ProgressDeadline < 0 {
		p.add("progressDeadlineSeconds", "must be positive, got %s", s.ProgressDeadline)
	}
	if s.Iterations < 0 {
		p.add(a+"iterations", "must not be negative, got %d", s.Iterations)
	}
	if s.StepWeightPromotion < 0 || s.StepWeightPromotion > 100 {
		p.add(a+"stepWeightPromotion", "must be 0..100, got %d", s.StepWeightPromotion)
	}
	if s.MaxWeight < 0 || s.MaxWeight > 100 {
		p.add(a+"maxWeight", "must be 1..100, got %d", s.MaxWeight)
	}
	s.validateWeights(p)
	if len(s.Match) > 0 && s.Iterations == 0 {
		p.add(a+"match", "A/B testing needs analysis.iterations (the number of iterations before promotion)")
	}
	validateMatches(p, a+"match", s.Match)
	if s.Mirror && len(s.Match) > 0 {
		p.add(a+"mirror", "not with A/B testing (analysis.match): matching requests go to the canary itself, and Flagger mirrors none")
	}
	switch {
	case s.MirrorWeight < 0 || s.MirrorWeight > 100:
		p.add(a+"mirrorWeight", "must be 0..100 (percent of the requests mirrored; 0: all), got %d", s.MirrorWeight)
	case s.MirrorWeight != 0 && !s.Mirror:
		p.add(a+"mirrorWeight", "only with analysis.mirror: true")
	}
	if s.SessionAffinity != nil {
		s.SessionAffinity.validate(p, a+"sessionAffinity.")
		if len(s.Match) > 0 {
			p.add(a+"sessionAffinity", "not with A/B testing (analysis.match): matching requests go to the canary already")
		}
	}
	s.validateMetrics(p)
	s.validateWebhooks(p)
}

func (s Spec) validateWeights(p *problems) {
	const a = "analysis."
	if s.SkipAnalysis && s.StepWeight == 0 && len(s.StepWeights) == 0 && s.Iterations == 0 {
		return // promoted as soon as it is ready: no steps (Flagger's skipAnalysis reads none)
	}
	if s.Iterations > 0 {
		if s.StepWeight != 0 {
			p.add(a+"stepWeight", "not used with analysis.iterations (blue/green or A/B testing); set one of them")
		}
		if len(s.StepWeights) > 0 {
			p.add(a+"stepWeights", "not used with analysis.iterations (blue/green or A/B testing); set one of them")
		}
		return
	}
	if len(s.StepWeights) > 0 {
		if s.StepWeight != 0 {
			p.add(a+"stepWeight", "set together with analysis.stepWeights; set one of them")
		}
		if s.MaxWeight != 0 {
			p.add(a+"maxWeight", "not used with analysis.stepWeights (the last step is the maximum); remove it")
		}
		prev := 0
		for i, w := range s.StepWeights {
			switch {
			case w < 1 || w > 100:
				p.add(fmt.Sprintf("%sstepWeights[%d]", a, i), "must be 1..100, got %d", w)
			case w <= prev:
				p.add(fmt.Sprintf("%sstepWeights[%d]", a, i), "must be greater than the previous step %d, got %d", prev, w)
			}
			prev = max(prev, w)
		}
		return
	}
	if s.StepWeight < 1 || s.StepWeight > 100 {
		p.add(a+"stepWeight", "must be 1..100, got %d", s.StepWeight)
		return
	}
	if mw := s.MaxWeight; mw > 0 && mw <= 100 && s.StepWeight > mw {
		p.add(a+"stepWeight", "%d exceeds analysis.maxWeight %d", s.StepWeight, mw)
	}
}

func (s Spec) validateMetrics(p *problems) {
	seen := map[string]bool{}
	for i, m := range s.Metrics {
		f := fmt.Sprintf("analysis.metrics[%d]", i)
		switch {
		case m.Name == "":
			p.add(f+".name", "required")
		case seen[m.Name]:
			p.add(f+".name", "duplicate metric %q", cut(m.Name))
		}
		seen[m.Name] = true
		switch {
		case m.Interval < 0:
			p.add(f+".interval", "must be positive, got %s", m.Interval)
		case m.Interval > 0 && m.Interval < MinMetricInterval:
			p.add(f+".interval", "must be at least %s, got %s", MinMetricInterval, m.Interval)
		}
		finite := true
		for _, b := range []struct {
			name string
			v    *float64
		}{{"min", m.ThresholdRange.Min}, {"max", m.ThresholdRange.Max}} {
			if b.v != nil && (math.IsNaN(*b.v) || math.IsInf(*b.v, 0)) {
				p.add(f+".thresholdRange."+b.name, "must be a finite number, got %v", *b.v)
				finite = false
			}
		}
		if r := m.ThresholdRange; finite && r.Min != nil && r.Max != nil && *r.Min > *r.Max {
			p.add(f+".thresholdRange", "min %s is greater than max %s", fmtValue(*r.Min), fmtValue(*r.Max))
		}
		if m.Query != "" {
			if _, err := parseQuery(m.Name, m.Query); err != nil {
				p.add(f+".query", "%v", err)
			}
		}
		if !m.OnNoData.valid() {
			p.add(f+".onNoData", "must be one of fail, hold, ignore; got %q", cut(string(m.OnNoData)))
		}
		for _, k := range slices.Sorted(maps.Keys(m.Variables)) {
			v := m.Variables[k]
			if i := strings.IndexFunc(v, endsLiteral); i >= 0 {
				r, _ := utf8.DecodeRuneInString(v[i:])
				p.add(fmt.Sprintf("%s.templateVariables[%q]", f, k),
					"must not hold quotes, backslashes or control characters (a query template keeps it in a string it could end): %q at byte %d", r, i)
			}
		}
	}
}

// endsLiteral reports whether r may end, or escape from, a string literal of a query
// language (PromQL, Datadog's, NRQL, InfluxQL, Graphite's): a quote of any kind, a backslash,
// a control character (a newline ends a PromQL string).
func endsLiteral(r rune) bool {
	return r == '"' || r == '\'' || r == '`' || r == '\\' || unicode.IsControl(r)
}

func (s Spec) validateWebhooks(p *problems) {
	type key struct {
		t    HookType
		name string
	}
	seen := map[key]bool{}
	for i, h := range s.Webhooks {
		f := fmt.Sprintf("analysis.webhooks[%d]", i)
		typ := h.Type
		if typ == "" {
			typ = HookRollout
		}
		if !typ.valid() {
			p.add(f+".type", "unknown hook type %q (want one of %s)", h.Type, hookTypeList())
		}
		switch k := (key{typ, h.Name}); {
		case h.Name == "":
			p.add(f+".name", "required")
		case seen[k]:
			p.add(f+".name", "duplicate %s webhook %q", typ, cut(h.Name))
		default:
			seen[k] = true
		}
		if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(f+".url", "must be an absolute http(s) URL, got %q", cut(RedactURL(h.URL)))
		}
		if h.Timeout < 0 {
			p.add(f+".timeout", "must be positive, got %s", h.Timeout)
		}
		switch {
		case h.Retries < 0:
			p.add(f+".retries", "must not be negative, got %d", h.Retries)
		case h.Retries > MaxHookRetries:
			p.add(f+".retries", "must be at most %d, got %d", MaxHookRetries, h.Retries)
		}
	}
}

func hookTypeList() string {
	types := HookTypes()
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// dns1123 is a lowercase RFC 1123 subdomain, the rule for Kubernetes object names.
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// dns1035 is a DNS-1035 label without its length limit, the rule for Service names.
var dns1035 = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// serviceNameProblem says why apex cannot name the apex Service, whose "-primary" and
// "-canary" Services must be Service names too, or returns "".
func serviceNameProblem(apex string) string {
	if !dns1035.MatchString(apex) || len(apex+"-primary") > 63 {
		return fmt.Sprintf("is not a valid Service name: want a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, no dots) of at most %d characters, so that %q fits in 63",
			63-len("-primary"), apex+"-primary")
	}
	return ""
}

func validateTarget(p *problems, t Target) {
	for _, f := range []struct{ name, v string }{{"targetRef.namespace", t.Namespace}, {"targetRef.name", t.Name}} {
		switch {
		case f.v == "":
			p.add(f.name, "required")
		case len(f.v) > 253 || !dns1123.MatchString(f.v):
			p.add(f.name, "%q is not a valid Kubernetes name (lowercase RFC 1123)", cut(f.v))
		}
	}
	// "-primary" and "-canary" are appended to the names: keep them within a DNS label.
	if t.Name != "" && len(t.PrimaryName()) > 63 {
		p.add("targetRef.name", "%q is too long: %q must fit in 63 characters", t.Name, t.PrimaryName())
	}
	if t.Canary != "" && (len(t.Canary) > 253 || !dns1123.MatchString(t.Canary)) {
		p.add("metadata.name", "%q is not a valid Kubernetes name (lowercase RFC 1123)", cut(t.Canary))
	}
	// the apex Service is named service.name, or after the target without it; it and its
	// "-primary" and "-canary" Services must have Service names (DNS-1035 labels)
	switch {
	case t.Service != "":
		if why := serviceNameProblem(t.Service); why != "" {
			p.add("service.name", "%q %s", t.Service, why)
		}
	case t.Name != "" && len(t.Name) <= 253 && dns1123.MatchString(t.Name) && len(t.PrimaryName()) <= 63:
		if why := serviceNameProblem(t.Name); why != "" {
			p.add("targetRef.name", "%q names the apex Service when service.name is not set, and %s; set service.name", t.Name, why)
		}
	}
	if t.Ingress != "" && (!dns1123.MatchString(t.Ingress) || len(t.Ingress+"-canary") > 253) {
		p.add("ingressRef.name", "%q is not a valid Ingress name (lowercase RFC 1123, at most 246 characters)", cut(t.Ingress))
	}
	if len(t.Match) > 0 {
		p.add("target.match", "set analysis.match instead; the Rollout fills the target's match from the spec")
	}
	if t.Mirror != 0 {
		p.add("target.mirror", "set analysis.mirror instead; the Rollout fills the target's mirror from the spec")
	}
	if t.Affinity != nil {
		p.add("target.affinity", "set analysis.sessionAffinity instead; the Rollout fills the target's affinity from the spec")
	}
}

// validateConfig checks the wiring: every interface the spec needs is present.
func validateConfig(p *problems, c *Config) {
	if c.Workload == nil {
		p.add("config.Workload", "required")
	}
	if c.Router == nil {
		p.add("config.Router", "required")
	}
	for i, m := range c.Spec.Metrics {
		f := fmt.Sprintf("analysis.metrics[%d]", i)
		ch, isChecker := c.Checkers[m.Name]
		if mv, ok := ch.(MetricValidator); ok {
			for _, fe := range mv.ValidateMetric(m) {
				p.add(f+"."+fe.Field, "%s", fe.Message)
			}
		}
		query := m.Query
		if query == "" && !isChecker {
			b, ok := c.Builtins[m.Name]
			if !ok {
				p.add(f+".query", "required: %q is not a built-in check (config.Builtins) or a checker (config.Checkers)", cut(m.Name))
				continue
			}
			if _, err := parseQuery(m.Name, b); err != nil {
				p.add(fmt.Sprintf("config.Builtins[%s]", m.Name), "%v", err)
			}
		}
		if !isChecker {
			if c.Metrics == nil && m.Provider == nil {
				p.add("config.Metrics", "required: analysis.metrics[%d] (%s) queries a metric provider", i, m.Name)
			}
			if m.ThresholdRange.IsZero() {
				p.add(f+".thresholdRange", "must set min or max")
			}
		}
	}
	if sr, ok := c.Router.(SwitchingRouter); ok && sr.SwitchesOnly() &&
		(c.Spec.Strategy() != StrategyBlueGreen || c.Spec.StepWeightPromotion != 0) {
		p.add("config.Router", "switches all traffic at once (no weighted split): use analysis.iterations without match (blue/green) and no stepWeightPromotion")
	}
	if sr, ok := c.Router.(SwitchingRouter); ok && sr.SwitchesOnly() && c.Spec.Mirror {
		p.add("analysis.mirror", "config.Router switches all traffic at once and cannot copy requests to the canary (%v)", ErrMirrorUnsupported)
	}
	if sr, ok := c.Router.(SwitchingRouter); ok && sr.SwitchesOnly() && c.Spec.SessionAffinity != nil {
		p.add("analysis.sessionAffinity", "config.Router switches all traffic at once and cannot keep sessions on the canary (%v)", ErrSessionAffinityUnsupported)
	}
	validateSplit(p, c)
	if len(c.Spec.Webhooks) > 0 && c.Webhooks == nil {
		p.add("config.Webhooks", "required: analysis.webhooks has %d webhooks and nothing runs them", len(c.Spec.Webhooks))
	}
	for i, g := range c.Gates {
		f := fmt.Sprintf("config.Gates[%d]", i)
		if g.Name == "" {
			p.add(f+".Name", "required")
		}
		if !g.Type.valid() {
			p.add(f+".Type", "unknown hook type %q (want one of %s)", g.Type, hookTypeList())
		}
		if g.Gate == nil {
			p.add(f+".Gate", "required")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Checkers)) {
		if c.Checkers[name] == nil {
			p.add(fmt.Sprintf("config.Checkers[%s]", name), "must not be nil")
		}
	}
}

// RedactURL returns raw without the secrets URLs carry, for messages: its userinfo (a user,
// password or token) and its query values. An address that does not parse as an absolute URL
// is cut to its scheme when it holds an "@", since which part is secret cannot be told.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" && u.Opaque == "" {
		if u.User != nil {
			u.User = url.User("redacted")
		}
		if u.RawQuery != "" || u.ForceQuery {
			u.RawQuery, u.ForceQuery = "redacted", false
		}
		u.Fragment, u.RawFragment = "", ""
		return u.String()
	}
	s := raw
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + "?redacted"
	}
	if strings.Contains(s, "@") {
		if i := strings.Index(s, "://"); i > 0 && !strings.ContainsAny(s[:i], "@/?") {
			return s[:i] + "://redacted"
		}
		return "redacted"
	}
	return s
}
