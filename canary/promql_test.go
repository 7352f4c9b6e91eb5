package canary

import (
	"strings"
	"testing"
)

func TestPromQLVariableProblems(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		vars        map[string]string
		bad         []string // keys reported, in order
		want        string   // part of the first problem
	}{
		{name: "in a string", query: `sum(rate(x{app="{{ variables.app }}"}[1m]))`,
			vars: map[string]string{"app": "my app (v2) or vector(1)"}},
		{name: "in a single-quoted string", query: `x{app='{{ index variables "app" }}'}`,
			vars: map[string]string{"app": "} or vector(1) #"}},
		{name: "a plain token outside", query: `rate(x[{{ variables.window }}]) > {{ variables.min }}`,
			vars: map[string]string{"window": "5m", "min": "0.99"}},
		{name: "a range cut short", query: `sum(rate(x{ns="a"}[{{ variables.window }}]))`,
			vars: map[string]string{"window": "1m]) or vector(1) #"}, bad: []string{"window"}, want: `']' at byte 2`},
		{name: "a sign outside", query: `sum(rate(x[1m])){{ variables.v }}`,
			vars: map[string]string{"v": "-1"}, bad: []string{"v"}, want: `'-' at byte 0`},
		{name: "only the bad key", query: `x{a="{{ variables.a }}"} * {{ variables.b }} + {{ variables.c }}`,
			vars: map[string]string{"a": "a b", "b": "2 or y", "c": "3", "d": "not used ()"}, bad: []string{"b"}, want: "outside a PromQL string"},
		{name: "through printf", query: `x + {{ printf "%s" variables.v }}`,
			vars: map[string]string{"v": "1 or y"}, bad: []string{"v"}},
		{name: "through print", query: `x + {{ print "1" variables.v }}`,
			vars: map[string]string{"v": "+y"}, bad: []string{"v"}},
		{name: "quoted by the template's printf", query: `x{app={{ printf "%q" variables.app }}}`,
			vars: map[string]string{"app": "a b (c)"}},
		{name: "through urlquery outside", query: `x + {{ variables.v | urlquery }}`,
			vars: map[string]string{"v": "a b"}, bad: []string{"v"}, want: `'+'`},
		{name: "through js inside", query: `x{a="{{ js variables.v }}"}`,
			vars: map[string]string{"v": "a b <c>"}},
		{name: "through html outside", query: `x + {{ html variables.v }}`,
			vars: map[string]string{"v": "a&b"}, bad: []string{"v"}},
		{name: "a piped escaper outside", query: `x + {{ variables.v | printf "%s" | html }}`,
			vars: map[string]string{"v": "y)"}, bad: []string{"v"}},
		{name: "cut short by printf", query: `x{a="{{ printf "%.3s" (printf "%s" variables.v) }}"}`,
			vars: map[string]string{"v": "abcdef"}, bad: []string{"v"}, want: "cuts it short"},
		{name: "only in a condition", query: `rate(x[{{ if eq variables.mode "fast" }}1m{{ else }}5m{{ end }}])`,
			vars: map[string]string{"mode": "x) or vector(1"}},
		{name: "compared and its length", query: `x > {{ len variables.v }}`,
			vars: map[string]string{"v": "a b c"}},
		{name: "the empty key", query: `x + {{ index variables "" }}`,
			vars: map[string]string{"": "1 or y"}, bad: []string{""}},
		{name: "the template's escape before it", query: `x{a="\{{ variables.v }}"}`,
			vars: map[string]string{"v": "n a"}},
		{name: "empty after the template's escape", query: `x{a="\{{ variables.v }}"} + y{b="c"}`,
			vars: map[string]string{"v": ""}, bad: []string{"v"}, want: "after a backslash"},
		{name: "in a comment", query: "x # {{ variables.v }}\n+ 1",
			vars: map[string]string{"v": "a ) b"}},
		{name: "a comment opened outside", query: "sum(rate(x[{{ variables.w }}]))",
			vars: map[string]string{"w": "5m#"}, bad: []string{"w"}, want: `'#' at byte 2`},
		{name: "after a string the template closes", query: `x{a="b"} {{ variables.v }}`,
			vars: map[string]string{"v": "or y"}, bad: []string{"v"}, want: `' ' at byte 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := QueryVars{Name: "n", Namespace: "ns", Target: "t", Variables: tc.vars}
			got, err := PromQLVariableProblems(tc.query, vars)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range got {
				keys = append(keys, p.Key)
			}
			if strings.Join(keys, ",") != strings.Join(tc.bad, ",") || len(keys) != len(tc.bad) {
				t.Fatalf("keys reported %q, want %q (%+v)", keys, tc.bad, got)
			}
			if tc.want != "" && !strings.Contains(got[0].Problem, tc.want) {
				t.Errorf("problem %q does not say %q", got[0].Problem, tc.want)
			}
			// what it checks renders as RenderQuery renders it
			if _, err := RenderQuery(tc.query, vars); err != nil {
				t.Errorf("RenderQuery: %v", err)
			}
		})
	}
}

func TestPromQLVariableProblemsErrors(t *testing.T) {
	if _, err := PromQLVariableProblems("x\x01{{ variables.v }}\x02", QueryVars{Variables: map[string]string{"v": "1"}}); err == nil || !strings.Contains(err.Error(), "U+0001 or U+0002") {
		t.Errorf("a template holding a mark: %v", err)
	}
	if _, err := PromQLVariableProblems(`x + {{ variables.missing }}`, QueryVars{Variables: map[string]string{"v": "1"}}); err == nil {
		t.Error("a template with a missing key renders")
	}
}

func TestRenderQueryDoesNotMark(t *testing.T) {
	got, err := RenderQuery(`x{a="{{ variables.v }}"} + {{ printf "%s" variables.v | html }}`, QueryVars{Variables: map[string]string{"v": "1"}})
	if err != nil || got != `x{a="1"} + 1` {
		t.Fatalf("RenderQuery = %q, %v", got, err)
	}
}
