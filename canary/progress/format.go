package progress

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/textcut"
)

// Bounds on what a line quotes from an event: names, messages and queries come from manifests
// and from providers' answers.
const (
	maxName    = 80
	maxMessage = 400
	maxQuery   = 2000
	maxDetail  = 400
)

// Verdict marks. Each comes with words ("(want >= 99)", "no data", "error"), so a line read
// without colour, or in a log, still says how the check went.
const (
	markPass    = "✔"
	markFail    = "✘"
	markUnknown = "?"
)

// ANSI colours of the marks, when Style.Color is set.
const (
	sgrGreen  = "\x1b[32m"
	sgrRed    = "\x1b[31m"
	sgrYellow = "\x1b[33m"
	sgrBold   = "\x1b[1m"
	sgrReset  = "\x1b[0m"
)

// indent starts the lines Verbose adds below an event's line, under its message.
const indent = "          "

// Style says how events are worded. The zero Style is plain: no colour, no queries.
type Style struct {
	// Verbose adds, below an event's line, each check's resolved query and, for a check that
	// did not pass, the provider's error, unless the event's message already says them.
	Verbose bool
	// Color wraps verdict marks in ANSI colours; the marks and words stay, so colour is never
	// the only sign of a verdict.
	Color bool
}

// Line formats e with the zero Style, prefixed by elapsed (the time since the release started):
//
//	00:07:00  Warning  Halt podinfo.test advancement request-success-rate 90.69 < 99  ✔ request-duration 111.88 <= 500
func Line(elapsed time.Duration, e canary.Event) string { return Style{}.Line(elapsed, e) }

// Check formats one check result with the zero Style: "✔ request-duration 111.88 <= 500",
// "✘ request-success-rate 90.69 (want >= 99)", "? request-duration no data".
func Check(c canary.CheckResult) string { return Style{}.Check(c) }

// Line formats e, prefixed by elapsed: the type, the message, a weight bar when the weights
// changed, and the verdict of every check the message does not already name. With Verbose, the
// line is followed by indented lines holding the checks' queries and errors.
func (s Style) Line(elapsed time.Duration, e canary.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-7s  %s", Elapsed(elapsed), clean(string(e.Type), 10), clean(e.Message, maxMessage))
	if showsBar(e) {
		b.WriteString("  " + Bar(e.Weights.Canary))
		if e.Weights.Mirrored {
			b.WriteString(" mirrored")
		}
	}
	for _, c := range e.Checks {
		if c.Name != e.Check {
			b.WriteString("  " + s.Check(c))
		}
	}
	if s.Verbose {
		for _, d := range details(e) {
			b.WriteString("\n" + indent + d)
		}
	}
	return b.String()
}

// showsBar reports whether e's line draws the canary weight: on the events that move traffic,
// and not in an A/B test, where the weights apply to matching requests only.
func showsBar(e canary.Event) bool {
	switch e.Reason {
	case canary.ReasonAdvanced, canary.ReasonRollingBack, canary.ReasonShifted:
		return len(e.Target.Match) == 0
	}
	return false
}

// Check formats one check result: a mark, the name, and the value against the threshold in
// words.
func (s Style) Check(c canary.CheckResult) string {
	mark, sgr, text := verdictText(c)
	if c.DryRun {
		text += " (dry-run)"
	}
	if s.Color {
		mark = sgr + mark + sgrReset
	}
	return mark + " " + text
}

// verdictText returns c's mark, the mark's colour and the words that follow it.
func verdictText(c canary.CheckResult) (mark, sgr, text string) {
	name := clean(c.Name, maxName)
	switch c.Verdict {
	case canary.VerdictPass:
		if c.Threshold.IsZero() {
			return markPass, sgrGreen, fmt.Sprintf("%s %.2f", name, c.Value)
		}
		return markPass, sgrGreen, fmt.Sprintf("%s %.2f %s", name, c.Value, bound(c.Threshold))
	case canary.VerdictFail:
		if c.Threshold.IsZero() {
			return markFail, sgrRed, fmt.Sprintf("%s %.2f (failed)", name, c.Value)
		}
		return markFail, sgrRed, fmt.Sprintf("%s %.2f (want %s)", name, c.Value, bound(c.Threshold))
	case canary.VerdictError:
		return markFail, sgrRed, name + " error"
	case canary.VerdictNoData:
		return markUnknown, sgrYellow, name + " no data"
	case canary.VerdictInconclusive:
		return markUnknown, sgrYellow, name + " inconclusive"
	case canary.VerdictUnavailable:
		return markUnknown, sgrYellow, name + " unavailable"
	}
	return markUnknown, sgrYellow, name + " " + strings.ToLower(clean(string(c.Verdict), 20))
}

// bound words a threshold: ">= 99", "<= 500", "in [1, 5]".
func bound(r canary.Range) string {
	if r.Min != nil && r.Max != nil {
		return "in " + r.String()
	}
	return r.String()
}

// details returns Verbose's lines for e: each check's query, and why a check that did not pass
// did not, leaving out what e's message already says.
func details(e canary.Event) []string {
	var out []string
	for _, c := range e.Checks {
		name := clean(c.Name, maxName)
		if c.Verdict != canary.VerdictPass {
			why := c.Message
			if c.Err != nil {
				why = c.Err.Error()
			}
			if why != "" && !strings.Contains(e.Message, why) {
				out = append(out, name+": "+clean(why, maxDetail))
			}
		}
		if c.Query != "" && !strings.Contains(e.Message, c.Query) {
			out = append(out, name+": query "+query(c.Query))
		}
	}
	return out
}

// query cleans a resolved query, keeping its line breaks as indented lines.
func query(q string) string {
	lines := strings.Split(textcut.Runes(q, maxQuery), "\n")
	for i, l := range lines {
		lines[i] = clean(strings.TrimRight(l, "\r"), maxQuery)
	}
	return strings.Join(lines, "\n"+indent+"  ")
}

// Bar draws a canary weight as twenty cells.
func Bar(weight int) string {
	n := max(0, min(20, weight/5))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "]"
}

// Elapsed formats d as hh:mm:ss (negative durations as zero).
func Elapsed(d time.Duration) string {
	d = max(d, 0)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// clean makes s safe to print on one terminal line: line breaks and tabs become spaces, other
// control characters (escape sequences among them) and bidirectional overrides become U+FFFD,
// invalid UTF-8 too, and s is cut to n runes.
func clean(s string, n int) string {
	s = textcut.Runes(s, n)
	ok := true
	for _, r := range s {
		if unsafeRune(r) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unsafeRune(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r) // invalid bytes decode as RuneError already
		}
	}
	return b.String()
}

// Printable returns s with what a terminal would act on, instead of showing, escaped as Go
// writes it in a string literal: control characters but the tab (escape sequences, carriage
// returns, line breaks: one message stays one line), bidirectional overrides, and bytes that
// are not UTF-8 (\xff). Unlike a Line's quotes it keeps s whole and loses nothing: for what a
// command prints from manifests, the cluster and servers' answers, all of which anyone with
// access to them may have written.
func Printable(s string) string {
	escaped := func(r rune) bool { return r != '\t' && unsafeRune(r) }
	i := strings.IndexFunc(s, escaped)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		_, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case escaped(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports whether a terminal may act on r rather than show it: a control
// character, a bidirectional control, or an invalid byte (utf8.RuneError).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError
}
