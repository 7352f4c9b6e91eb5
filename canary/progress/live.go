package progress

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/textcut"
)

// Terminal says whether a Live redraws its status lines in place.
type Terminal int

// Terminal modes.
const (
	// TerminalAuto redraws when the writer is a terminal (an *os.File, or anything with an Fd
	// method, for which term.IsTerminal holds), and prints plain lines otherwise.
	TerminalAuto Terminal = iota
	// TerminalAlways redraws whatever the writer is.
	TerminalAlways
	// TerminalNever prints plain lines.
	TerminalNever
)

// defaultWidth is the status lines' width when the terminal's is unknown.
const defaultWidth = 100

// Options configure a Live. The zero value detects the terminal, colours marks on a terminal
// only, and measures elapsed time from the first event.
type Options struct {
	// Verbose adds each check's resolved query and error below an event's line (Style.Verbose).
	Verbose bool
	// Start is the time elapsed is measured from; zero means the first event's time.
	Start time.Time
	// Terminal chooses between redrawn status lines and plain lines; zero means TerminalAuto.
	Terminal Terminal
	// Width is the terminal's width in columns, status lines being cut to fit; zero means the
	// terminal's own width, or 100 when it cannot be read.
	Width int
	// NoColor keeps ANSI colours out of a terminal's output (plain lines never have any).
	NoColor bool
}

// Live shows a Rollout's events as they happen (pass its Handle as canary.Config.OnEvent, or to
// several Rollouts at once). On a terminal it keeps one status line per target at the bottom —
// elapsed time, phase, weight bar, failed checks and every check's verdict — and redraws it in
// place with ANSI cursor movement as the release advances; events worth keeping (new revision,
// hooks, halts, rollback, promotion, errors) are printed above it as ordinary lines, and a
// target's status line goes away when its release ends. Elsewhere (a file, a pipe, a CI log) it
// prints every event as a plain Line.
//
// Text written to a Live (Write) is printed above the status lines; anything else written to the
// same terminal meanwhile disturbs the redraw. A Live is safe for concurrent use.
type Live struct {
	mu      sync.Mutex
	w       io.Writer
	opts    Options
	term    bool
	width   int
	start   time.Time
	targets []*status // in order of first appearance
	drawn   int       // status lines on screen, above the cursor
	pending []byte    // written text not yet ended by a newline
	closed  bool
	err     error
}

// status is what a target's status line shows.
type status struct {
	key    string
	last   canary.Event
	checks []canary.CheckResult
}

// NewLive returns a Live writing to w.
func NewLive(w io.Writer, opts Options) *Live {
	l := &Live{w: w, opts: opts, start: opts.Start}
	switch opts.Terminal {
	case TerminalAlways:
		l.term = true
		_, l.width = detect(w)
	case TerminalAuto:
		l.term, l.width = detect(w)
	}
	if opts.Width > 0 {
		l.width = opts.Width
	}
	if l.width <= 0 {
		l.width = defaultWidth
	}
	return l
}

// detect reports whether w is a terminal, and its width when known.
func detect(w io.Writer) (bool, int) {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false, 0
	}
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return false, 0
	}
	width, _, err := term.GetSize(fd)
	if err != nil {
		return true, 0
	}
	return true, width
}

// Terminal reports whether l redraws status lines (false: it prints plain lines).
func (l *Live) Terminal() bool { return l.term }

// Handle shows e.
func (l *Live) Handle(e canary.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = e.Time
	}
	elapsed := e.Time.Sub(l.start)
	if !l.term || l.closed {
		l.write(Style{Verbose: l.opts.Verbose}.Line(elapsed, e) + "\n")
		return
	}
	st := l.status(e.Target)
	st.last = e
	switch {
	case len(e.Checks) > 0:
		st.checks = e.Checks
	case e.Reason == canary.ReasonNewRevision || e.Reason == canary.ReasonRestarted || e.Reason == canary.ReasonStarted:
		st.checks = nil
	}
	above := ""
	if kept(e.Reason) {
		above = Style{Verbose: l.opts.Verbose, Color: !l.opts.NoColor}.Line(elapsed, e) + "\n"
	}
	if ends(e.Reason) {
		l.drop(st)
	}
	l.redraw(above)
}

// kept reports whether an event of reason r is printed above the status lines on a terminal;
// the others (steps, holds, closed gates, which repeat every interval) only update the target's
// status line.
func kept(r canary.Reason) bool {
	switch r {
	case canary.ReasonAdvanced, canary.ReasonNoData, canary.ReasonUnavailable, canary.ReasonWaiting:
		return false
	}
	return true
}

// ends reports whether an event of reason r ends what a status line follows.
func ends(r canary.Reason) bool {
	return r == canary.ReasonSucceeded || r == canary.ReasonFailed || r == canary.ReasonInitialized
}

// status returns t's status, adding it at the bottom when new.
func (l *Live) status(t canary.Target) *status {
	key := t.Namespace + "/" + t.Name
	for _, st := range l.targets {
		if st.key == key {
			return st
		}
	}
	st := &status{key: key}
	l.targets = append(l.targets, st)
	return st
}

func (l *Live) drop(st *status) {
	for i, s := range l.targets {
		if s == st {
			l.targets = append(l.targets[:i], l.targets[i+1:]...)
			return
		}
	}
}

// Write prints p above the status lines (on a terminal, once a line is complete).
func (l *Live) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.term || l.closed {
		l.write(string(p))
		return len(p), l.err
	}
	l.pending = append(l.pending, p...)
	if i := bytes.LastIndexByte(l.pending, '\n'); i >= 0 {
		text := string(l.pending[:i+1])
		l.pending = append(l.pending[:0], l.pending[i+1:]...)
		l.redraw(text)
	}
	return len(p), l.err
}

// Close prints what is left of written text and stops redrawing: the status lines stay on
// screen as they are, and later events are printed as plain lines. It returns the first error
// writing to the underlying writer.
func (l *Live) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term && !l.closed && len(l.pending) > 0 {
		l.redraw(string(l.pending) + "\n")
		l.pending = nil
	}
	l.closed = true
	return l.err
}

// redraw erases the status lines, prints above (whole lines), and draws the status lines again.
func (l *Live) redraw(above string) {
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", l.drawn) // up to the first status line, erase to the end
	}
	b.WriteString(above)
	for _, st := range l.targets {
		b.WriteString(l.line(st) + "\n")
	}
	l.drawn = len(l.targets)
	l.write(b.String())
}

func (l *Live) write(s string) {
	if l.err != nil || s == "" {
		return
	}
	_, l.err = io.WriteString(l.w, s)
}

// span is a piece of a status line and its colour.
type span struct{ text, sgr string }

// line renders st's status line, cut to the width:
//
//	00:05:00  podinfo.test  Progressing  [##########..........]  50%  ✔ request-success-rate 99.83 >= 99  ✔ request-duration 111.60 <= 500
func (l *Live) line(st *status) string {
	e := st.last
	spans := []span{
		{Elapsed(e.Time.Sub(l.start)) + "  ", ""},
		{clean(e.Target.String(), maxName), sgrBold},
		{"  " + clean(string(e.Phase), 20), ""},
	}
	if len(e.Target.Match) > 0 {
		spans = append(spans, span{fmt.Sprintf("  A/B iteration %d", e.Iteration), ""})
	} else {
		spans = append(spans, span{fmt.Sprintf("  %s %3d%%", Bar(e.Weights.Canary), e.Weights.Canary), ""})
		if e.Weights.Mirrored {
			spans = append(spans, span{" mirrored", ""})
		}
		if e.Iteration > 0 {
			spans = append(spans, span{fmt.Sprintf("  iteration %d", e.Iteration), ""})
		}
	}
	if e.FailedChecks > 0 {
		spans = append(spans, span{"  ", ""}, span{fmt.Sprintf("failed checks %d", e.FailedChecks), sgrRed})
	}
	for _, c := range st.checks {
		mark, sgr, text := verdictText(c)
		spans = append(spans, span{"  ", ""}, span{mark, sgr}, span{" " + text, ""})
	}
	switch e.Reason {
	case canary.ReasonWaiting, canary.ReasonNotReady, canary.ReasonInitializing, canary.ReasonError:
		spans = append(spans, span{"  " + clean(e.Message, maxMessage), ""})
	case canary.ReasonNoData:
		spans = append(spans, span{"  holding: no data", sgrYellow})
	case canary.ReasonUnavailable:
		spans = append(spans, span{"  holding: metrics unavailable", sgrYellow})
	}
	return l.render(spans)
}

// render joins spans, colouring them unless NoColor, and cuts the visible text to one column
// less than the width so that the terminal never wraps it.
func (l *Live) render(spans []span) string {
	var b strings.Builder
	room := l.width - 1
	for _, s := range spans {
		if room <= 0 {
			break
		}
		text := s.text
		n := utf8.RuneCountInString(text)
		if n > room {
			text = textcut.Runes(text, room)
			n = room
		}
		if s.sgr != "" && !l.opts.NoColor && text != "" {
			b.WriteString(s.sgr + text + sgrReset)
		} else {
			b.WriteString(text)
		}
		room -= n
	}
	return b.String()
}
