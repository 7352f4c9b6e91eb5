package canary

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
)

// VariableProblem is a template variable that a query template writes where its value could
// change the query's structure, with what is wrong.
type VariableProblem struct {
	// Key is the variables key ({{ variables.<key> }}, Flagger's templateVariables).
	Key string
	// Problem says where the value lands and what it holds there.
	Problem string
}

// PromQLVariableProblems renders the PromQL template text with vars once per variables key
// and reports each value the template writes where it could add to the query: Flagger's
// templateVariables come from a Canary's author, its MetricTemplate often from someone else
// (a platform team's shared template), so a value must stay in the place the template gives
// it. Inside a string literal a value cannot end the string (Spec.Validate refuses quotes,
// backslashes and control characters in every value); outside one, it must be a single plain
// token, "5m", "0.99" or "http_requests_total": letters, digits, '_', ':' and '.' (no sign: a
// value "-1" after "sum(x)" would subtract). A value the template formats itself, printf "%q"
// say, is judged by what the template writes: quotes the format adds are the template's. A
// value used only in a condition or compared is not written, and is not a problem. Keys are
// reported in order; a template that does not render with vars is an error (RenderQuery's),
// and so is one holding U+0001 or U+0002, the marks this check puts around a value.
func PromQLVariableProblems(text string, vars QueryVars) ([]VariableProblem, error) {
	if strings.ContainsAny(text, valueMarks) {
		return nil, errors.New("query template holds the control character U+0001 or U+0002")
	}
	if _, err := RenderQuery(text, vars); err != nil {
		return nil, err
	}
	var out []VariableProblem
	for _, k := range slices.Sorted(maps.Keys(vars.Variables)) {
		v := vars
		v.marking, v.marked = true, k
		rendered, err := RenderQuery(text, v)
		if err != nil {
			return nil, err
		}
		if p := promqlPlacement(rendered); p != "" {
			out = append(out, VariableProblem{Key: k, Problem: p})
		}
	}
	return out, nil
}

// Marks around a marked variable's value in a rendered query (PromQLVariableProblems): no value
// holds a control character, and PromQLVariableProblems refuses a template that does.
const (
	markOpen   = "\x01"
	markClose  = "\x02"
	valueMarks = markOpen + markClose
)

// markedValue is a variable's value that writes itself between marks wherever fmt formats it:
// printed by an action, through print or printf, or through the escapers (markedEscaper). It
// is a string kind, so text/template's comparisons and len treat it as the string it is.
type markedValue string

func (v markedValue) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, markOpen+fmt.FormatString(f, verb)+markClose, string(v))
}

// markedEscaper is one of text/template's escapers (html, js, urlquery) that keeps the marks
// around an escaped marked value: the escapers would turn the marks into escapes.
func markedEscaper(escape func(...any) string) func(...any) string {
	return func(args ...any) string {
		s := fmt.Sprint(args...)
		if !strings.ContainsAny(s, valueMarks) {
			return escape(s)
		}
		return markOpen + escape(strings.NewReplacer(markOpen, "", markClose, "").Replace(s)) + markClose
	}
}

// markedFuncs replaces, in fm, the functions that give a marked variable's value.
func (v *QueryVars) markedFuncs(fm template.FuncMap) {
	vars := make(map[string]any, len(v.Variables))
	for k, s := range v.Variables {
		vars[k] = s
	}
	vars[v.marked] = markedValue(v.Variables[v.marked])
	fm["variables"] = func() map[string]any { return vars }
	fm["html"] = markedEscaper(template.HTMLEscaper)
	fm["js"] = markedEscaper(template.JSEscaper)
	fm["urlquery"] = markedEscaper(template.URLQueryEscaper)
}

// promqlPlacement lexes a rendered query whose marked value stands between marks and says
// what is wrong with where it lands ("" if nothing).
func promqlPlacement(q string) string {
	var lx promqlLexer
	for i := 0; i < len(q); i++ {
		if q[i] != markOpen[0] {
			lx.step(q[i])
			continue
		}
		end := strings.IndexByte(q[i+1:], markClose[0])
		if end < 0 {
			return "the rendered query cuts it short" // a width or precision of printf
		}
		if p := lx.value(q[i+1 : i+1+end]); p != "" {
			return p
		}
		i += 1 + end
	}
	return ""
}

// promqlLexer follows PromQL's strings, between double quotes, single quotes or backticks
// (with backslash escapes but between backticks), and its comments (# to the end of the line).
type promqlLexer struct {
	quote            byte // the open string's delimiter, or 0
	escaped, comment bool
}

// step reads c.
func (lx *promqlLexer) step(c byte) {
	switch {
	case lx.comment:
		lx.comment = c != '\n'
	case lx.quote != 0:
		switch {
		case lx.escaped:
			lx.escaped = false
		case c == '\\' && lx.quote != '`':
			lx.escaped = true
		case c == lx.quote:
			lx.quote = 0
		}
	case c == '#':
		lx.comment = true
	case isQuote(c):
		lx.quote = c
	}
}

// value reads a marked value and says what is wrong with it: its characters inside a string
// or a comment stay there, those outside are plain, and it ends in the string it began in,
// with no escape pending (an empty value after the template's backslash would leave one).
func (lx *promqlLexer) value(val string) string {
	q0 := lx.quote
	for i := 0; i < len(val); i++ {
		c := val[i]
		if !lx.comment && lx.quote == 0 && !isPlain(c) && !isQuote(c) { // a quote here is the template's format's
			return fmt.Sprintf("the template writes it outside a PromQL string, where it may be one plain token only (letters, digits, '_', ':' and '.'): %q at byte %d", c, i)
		}
		lx.step(c)
	}
	switch {
	case lx.quote != q0:
		return "the template writes it where it opens or closes a PromQL string"
	case lx.escaped:
		return "the template writes it after a backslash, which escapes what follows it when it is empty"
	}
	return ""
}

func isQuote(c byte) bool { return c == '"' || c == '\'' || c == '`' }

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '.'
}
