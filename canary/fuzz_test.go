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
