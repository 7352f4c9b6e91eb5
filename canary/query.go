package canary

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// QueryVars are the variables of a metric query template, as Flagger's MetricTemplate defines
// them: {{ name }}, {{ namespace }}, {{ target }}, {{ service }}, {{ ingress }},
// {{ interval }} and {{ variables.<key> }}.
type QueryVars struct {
	Name      string
	Namespace string
	Target    string
	Service   string
	// Ingress is Flagger's spec.ingressRef name, which defaults to the target's name; no
	// router of canarykit's names an Ingress, so it is always the target's name.
	Ingress   string
	Interval  string
	Variables map[string]string
}

// VarsFor returns the variables of metric m for target t.
func VarsFor(t Target, m Metric) QueryVars {
	interval := m.Interval
	if interval == 0 {
		interval = DefaultMetricInterval
	}
	return QueryVars{
		Name:      t.CanaryName(),
		Namespace: t.Namespace,
		Target:    t.Name,
		Service:   t.ApexService(),
		Ingress:   t.Name,
		Interval:  PromDuration(interval),
		Variables: m.Variables,
	}
}

// placeholderFuncs lets a template parse before its variables are known.
var placeholderFuncs = (&QueryVars{}).funcs()

func (v *QueryVars) funcs() template.FuncMap {
	return template.FuncMap{
		"name":      func() string { return v.Name },
		"namespace": func() string { return v.Namespace },
		"target":    func() string { return v.Target },
		"service":   func() string { return v.Service },
		"ingress":   func() string { return v.Ingress },
		"interval":  func() string { return v.Interval },
		"variables": func() map[string]string { return v.Variables },
	}
}

func parseQuery(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Funcs(placeholderFuncs).Parse(text)
}

// RenderQuery renders a query template with vars. A missing variables key is an error.
func RenderQuery(text string, vars QueryVars) (string, error) {
	t, err := parseQuery("query", text)
	if err != nil {
		return "", fmt.Errorf("parse query template: %w", err)
	}
	var b strings.Builder
	if err := t.Funcs(vars.funcs()).Execute(&b, nil); err != nil {
		return "", fmt.Errorf("render query template: %w", err)
	}
	return b.String(), nil
}

// CompactQuery turns each run of whitespace outside string literals into one space and drops
// PromQL comments (# to the end of the line), so a template written over many lines, as
// Flagger's MetricTemplates often are, is one readable line in events. It is PromQL's
// lexical structure: the engine, which knows no query language, leaves queries as written;
// the kube manifest loader and the Prometheus provider apply it. Flagger collapses whitespace
// too, but also inside quotes and without regard to comments.
func CompactQuery(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	var quote rune // the open string literal's delimiter, or 0
	escaped, space, comment := false, false, false
	for _, r := range q {
		switch {
		case comment:
			if r == '\n' {
				comment, space = false, true
			}
			continue
		case quote != 0:
			b.WriteRune(r)
			switch {
			case escaped:
				escaped = false
			case r == '\\' && quote != '`':
				escaped = true
			case r == quote:
				quote = 0
			}
			continue
		case r == '#':
			comment = true
			continue
		case unicode.IsSpace(r):
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if r == '"' || r == '\'' || r == '`' {
			quote = r
		}
		b.WriteRune(r)
	}
	return b.String()
}

// PromDuration formats d the way Prometheus writes durations: "1m", "30s", "1h30m", "500ms".
func PromDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d%time.Second != 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	var b strings.Builder
	for _, u := range []struct {
		d      time.Duration
		suffix string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.suffix)
			d -= n * u.d
		}
	}
	return b.String()
}
