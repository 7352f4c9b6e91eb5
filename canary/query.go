package canary

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"
)

// QueryVars are the variables of a metric query template, as Flagger's MetricTemplate defines
// them: {{ name }}, {{ namespace }}, {{ target }}, {{ service }}, {{ ingress }},
// {{ interval }} and {{ variables.<key> }}.
type QueryVars struct {
	Name      string
	Namespace string
	Target    string
	Service   string
	// Ingress is Flagger's spec.ingressRef name (Target.Ingress), which defaults to the
	// target's name.
	Ingress   string
	Interval  string
	Variables map[string]string

	// marking says the value of Variables[marked] is rendered between marks
	// (PromQLVariableProblems).
	marking bool
	marked  string
}

// VarsFor returns the variables of metric m for target t.
func VarsFor(t Target, m Metric) QueryVars {
	return QueryVars{
		Name:      t.CanaryName(),
		Namespace: t.Namespace,
		Target:    t.Name,
		Service:   t.ApexService(),
		Ingress:   t.IngressName(),
		Interval:  PromDuration(m.EffectiveInterval()),
		Variables: m.Variables,
	}
}

// placeholderFuncs lets a template parse before its variables are known.
var placeholderFuncs = (&QueryVars{}).funcs()

func (v *QueryVars) funcs() template.FuncMap {
	fm := template.FuncMap{
		"name":      func() string { return v.Name },
		"namespace": func() string { return v.Namespace },
		"target":    func() string { return v.Target },
		"service":   func() string { return v.Service },
		"ingress":   func() string { return v.Ingress },
		"interval":  func() string { return v.Interval },
		"variables": func() map[string]string { return v.Variables },
	}
	if v.marking {
		v.markedFuncs(fm)
	}
	return fm
}

// Bounds on query templates. A template comes from a manifest, so it is untrusted: it may use
// Flagger's variables, index, comparisons, if/else and printf with small widths, nothing that
// loops or calls other templates, and its text and rendered output are bounded.
const (
	// MaxQueryLength bounds a query template's text and its rendered output, in bytes.
	MaxQueryLength = 64 << 10
	// MaxPrintfWidth bounds the width and precision of a printf verb in a query template.
	MaxPrintfWidth = 256
)

// queryFuncs are the functions a query template may call: Flagger's variables and text/template
// built-ins that neither loop nor call arbitrary functions.
var queryFuncs = map[string]bool{
	"name": true, "namespace": true, "ingress": true, "target": true, "service": true, "interval": true, "variables": true,
	"index": true, "printf": true, "print": true, "len": true, "urlquery": true, "js": true, "html": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true, "and": true, "or": true, "not": true,
}

// CheckQuery reports whether text is a query template canarykit accepts (see MaxQueryLength):
// it parses, and it uses only variables, allowed functions and if/else.
func CheckQuery(text string) error {
	_, err := parseQuery("query", text)
	return err
}

// parseQuery is parseText, remembered: a release checks and renders each of its query
// templates several times when its Rollout is made, and a controller's targets mostly share a
// few MetricTemplates and built-ins, so most calls find the text parsed. The template returned
// is shared: a caller that changes it (Funcs) changes a Clone.
func parseQuery(name, text string) (*template.Template, error) {
	if len(text) > maxParsedText {
		return parseText(name, text)
	}
	k := parsedKey{name, text}
	parsed.Lock()
	r, ok := parsed.m[k]
	parsed.Unlock()
	if ok {
		return r.t, r.err
	}
	t, err := parseText(name, text)
	parsed.Lock()
	defer parsed.Unlock()
	if parsed.m == nil || len(parsed.m) >= maxParsedEntries || parsed.bytes+len(text) > maxParsedBytes {
		parsed.m, parsed.bytes = make(map[parsedKey]parsedQuery), 0 // started again: the bound is all it needs
	}
	if _, ok := parsed.m[k]; !ok {
		parsed.m[k] = parsedQuery{t, err}
		parsed.bytes += len(name) + len(text)
	}
	return t, err
}

// Bounds on what parseQuery keeps: templates are untrusted, so the texts remembered are short
// and few (a MetricTemplate's query is typically under a kilobyte).
const (
	maxParsedText    = 8 << 10
	maxParsedEntries = 512
	maxParsedBytes   = 512 << 10
)

type parsedKey struct{ name, text string }

type parsedQuery struct {
	t   *template.Template
	err error
}

// parsed is parseQuery's memory, emptied when it reaches a bound.
var parsed struct {
	sync.Mutex
	m     map[parsedKey]parsedQuery
	bytes int
}

// parseText parses a query template and checks it (see MaxQueryLength).
func parseText(name, text string) (*template.Template, error) {
	if len(text) > MaxQueryLength {
		return nil, fmt.Errorf("query template is %d bytes, more than %d", len(text), MaxQueryLength)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(placeholderFuncs).Parse(text)
	if err != nil {
		return nil, syntaxError{err}
	}
	if ts := t.Templates(); len(ts) > 1 || (len(ts) == 1 && ts[0] != t) {
		return nil, errors.New("query template must not define templates (define, block)")
	}
	if t.Tree != nil {
		if err := checkNode(t.Tree.Root); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// syntaxError is a template that does not parse.
type syntaxError struct{ err error }

func (e syntaxError) Error() string { return "does not parse: " + e.err.Error() }
func (e syntaxError) Unwrap() error { return e.err }

// checkNode walks a parsed template and refuses what a query template must not do.
func checkNode(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkNode(n.Pipe)
	case *parse.IfNode:
		for _, c := range []parse.Node{n.Pipe, n.List, n.ElseList} {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "printf" {
			if err := checkPrintf(n.Args[1:]); err != nil {
				return err
			}
		}
		for _, c := range n.Args {
			if err := checkNode(c); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkNode(n.Node)
	case *parse.IdentifierNode:
		if !queryFuncs[n.Ident] {
			return fmt.Errorf("query template must not call %q (allowed: variables, index, printf, comparisons)", n.Ident)
		}
	case *parse.TextNode, *parse.CommentNode, *parse.BoolNode, *parse.DotNode, *parse.FieldNode,
		*parse.NilNode, *parse.NumberNode, *parse.StringNode, *parse.VariableNode:
	case *parse.RangeNode:
		return errors.New("query template must not loop (range)")
	case *parse.WithNode:
		return errors.New("query template must not use with")
	case *parse.TemplateNode:
		return errors.New("query template must not call templates (template, block)")
	default:
		return fmt.Errorf("query template must not use %s", n.String())
	}
	return nil
}

// checkPrintf refuses a printf whose format is not a constant or asks for a large or
// argument-given width or precision.
func checkPrintf(args []parse.Node) error {
	if len(args) == 0 {
		return nil
	}
	f, ok := args[0].(*parse.StringNode)
	if !ok {
		return errors.New("query template: printf's format must be a constant string")
	}
	s := f.Text
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		for i++; i < len(s) && strings.IndexByte("+-# 0", s[i]) >= 0; i++ {
		}
		for n := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= '0' && c <= '9':
				n = n*10 + int(c-'0')
				if n > MaxPrintfWidth {
					return fmt.Errorf("query template: printf width or precision above %d in %q", MaxPrintfWidth, s)
				}
				continue
			case c == '*':
				return fmt.Errorf("query template: printf width or precision from an argument (*) in %q", s)
			case c == '.' || c == '[' || c == ']':
				n = 0
				continue
			}
			break
		}
	}
	return nil
}

// limitWriter fails a write that would take its output past max bytes.
type limitWriter struct {
	b   strings.Builder
	max int
}

var errQueryTooLong = fmt.Errorf("rendered query is longer than %d bytes", MaxQueryLength)

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errQueryTooLong
	}
	return w.b.Write(p)
}

// RenderQuery renders a query template with vars. A missing variables key is an error, and so
// is a template CheckQuery refuses or output longer than MaxQueryLength.
func RenderQuery(text string, vars QueryVars) (string, error) {
	t, err := parseQuery("query", text)
	if se, ok := err.(syntaxError); ok {
		return "", fmt.Errorf("parse query template: %w", se.err)
	}
	if err != nil {
		return "", err
	}
	if t, err = t.Clone(); err != nil { // parseQuery's template is shared
		return "", fmt.Errorf("render query template: %w", err)
	}
	w := &limitWriter{max: MaxQueryLength}
	if err := t.Funcs(vars.funcs()).Execute(w, nil); err != nil {
		if errors.Is(err, errQueryTooLong) {
			return "", errQueryTooLong
		}
		return "", fmt.Errorf("render query template: %w", err)
	}
	return w.b.String(), nil
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
	// write copies q's rune at i as it is: an invalid byte stays that byte (not U+FFFD)
	write := func(i int, r rune) {
		if r == utf8.RuneError {
			_, n := utf8.DecodeRuneInString(q[i:])
			b.WriteString(q[i : i+n])
			return
		}
		b.WriteRune(r)
	}
	for i, r := range q {
		switch {
		case comment:
			if r == '\n' {
				comment, space = false, true
			}
			continue
		case quote != 0:
			write(i, r)
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
		write(i, r)
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
