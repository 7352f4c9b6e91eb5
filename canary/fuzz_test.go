package canary_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"

	"github.com/canarykit/canarykit/canary"
)

// FuzzRenderQuery: any template either is refused or renders at most MaxQueryLength bytes; a
// template CheckQuery accepts renders or fails only on a missing variable or a bounded output.
func FuzzRenderQuery(f *testing.F) {
	for _, s := range []string{
		`sum(rate(response_total{namespace="{{ namespace }}",deployment=~"{{ target }}"}[{{ interval }}]))`,
		`{{ variables.k }}{{ index variables "k" }}`,
		`{{ range 10000000 }}x{{ end }}`,
		`{{ printf "%999999999d" 1 }}`,
		`{{ printf "%-200s" target }}{{ printf "%-200s" target }}`,
		`{{ if eq (len variables.k) 3 }}{{ html variables.k }}{{ end }}`,
		`{{ define "x" }}{{ end }}`,
		`{{ $x := target }}{{ $x }}{{/* c */}}`,
	} {
		f.Add(s, "vvv")
	}
	f.Fuzz(func(t *testing.T, text, v string) {
		vars := canary.QueryVars{Name: "podinfo", Namespace: "test", Target: "podinfo", Service: "podinfo", Interval: "1m",
			Variables: map[string]string{"k": v}}
		out, err := canary.RenderQuery(text, vars)
		if err != nil {
			return
		}
		assert.LessOrEqual(t, len(out), canary.MaxQueryLength)
		assert.NoError(t, canary.CheckQuery(text), "rendered, so accepted")
	})
}

// FuzzCompactQuery: compaction never grows a query, is idempotent, and leaves no whitespace
// run, newline or comment outside string literals.
func FuzzCompactQuery(f *testing.F) {
	for _, s := range []string{
		"sum(\n  rate(x[1m])  # comment\n)",
		`label="a  b # not a comment"` + "\n\t+ 1",
		"'unterminated \n  string",
		"`raw\n  string` # c",
		`"esc\" aped  " # c` + "\n x",
		"\u00a0\u2028 x \u3000 y",
		"a\xff\xfe  b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c := canary.CompactQuery(q)
		assert.LessOrEqual(t, len(c), len(q))
		assert.Equal(t, c, canary.CompactQuery(c), "idempotent")
		if !strings.ContainsAny(q, "\"'`") {
			assert.NotContains(t, c, "#")
			assert.NotContains(t, c, "  ")
			assert.False(t, strings.ContainsFunc(c, func(r rune) bool { return unicode.IsSpace(r) && r != ' ' }), "only single spaces remain")
			assert.Equal(t, strings.TrimSpace(c), c)
		}
	})
}

// FuzzPromQLVariableProblems: a value PromQLVariableProblems lets through adds nothing to the
// query's structure: outside strings and comments, the query rendered with it has the same
// characters that are not letters, digits, '_', ':' or '.' as with the plain value "x" (the
// templates' conditions do not look at the value, so both take the same branches).
func FuzzPromQLVariableProblems(f *testing.F) {
	templates := []string{
		`sum(rate(x{app="{{ variables.k }}"}[{{ variables.k }}])) > {{ variables.k }}`,
		`x{a='{{ variables.k }}'} or y{b=~"{{ variables.k }}.*"}`,
		`x{app={{ printf "%q" variables.k }}} + {{ printf "%s" variables.k }}`,
		`x + {{ variables.k | urlquery }} + {{ html variables.k }} + "{{ js variables.k }}"`,
		"x # {{ variables.k }}\n+ `{{ variables.k }}` + {{ print variables.k }}",
		`x{a="\{{ variables.k }}"} offset {{ variables.k }}`,
	}
	for i, v := range []string{"5m", "a b", `") or vector(1) #`, "1m]) or vector(1)", "é", "x\ny", "-1", "#"} {
		f.Add(uint8(i), v)
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		text := canary.CompactQuery(templates[int(which)%len(templates)])
		vars := func(v string) canary.QueryVars { return canary.QueryVars{Variables: map[string]string{"k": v}} }
		if strings.ContainsFunc(v, endsLiteral) {
			return // refused by Spec.Validate before any template sees it
		}
		bad, err := canary.PromQLVariableProblems(text, vars(v))
		if err != nil || len(bad) > 0 {
			return
		}
		got, err := canary.RenderQuery(text, vars(v))
		if !assert.NoError(t, err) {
			return
		}
		plain, err := canary.RenderQuery(text, vars("x"))
		if !assert.NoError(t, err) {
			return
		}
		assert.Equal(t, structure(plain), structure(got), "%q renders %q", v, got)
	})
}

// endsLiteral is what Spec.Validate refuses in a variable's value: a quote, a backslash, a
// control character.
func endsLiteral(r rune) bool { return strings.ContainsRune("\"'`\\", r) || unicode.IsControl(r) }

// structure is what of q stands outside PromQL's strings and comments and is not a letter,
// digit, '_', ':' or '.': its operators, brackets, spaces and the quotes that open strings.
func structure(q string) string {
	var b strings.Builder
	var quote rune
	escaped, comment := false, false
	for _, r := range q {
		switch {
		case comment:
			comment = r != '\n'
		case quote != 0:
			switch {
			case escaped:
				escaped = false
			case r == '\\' && quote != '`':
				escaped = true
			case r == quote:
				quote = 0
				b.WriteRune(r)
			}
		case r == '#':
			comment = true
		case r == '"' || r == '\'' || r == '`':
			quote = r
			b.WriteRune(r)
		case !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':' || r == '.'):
			b.WriteRune(r)
		}
	}
	return b.String()
}
