package progress_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/canary/progress"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// term is a writer that keeps the raw bytes and what a terminal would show.
type term struct {
	raw strings.Builder
	sc  screen
	err error
}

func (t *term) Write(p []byte) (int, error) {
	t.raw.Write(p)
	if err := t.sc.feed(string(p)); err != nil && t.err == nil {
		t.err = err
	}
	return len(p), nil
}

// statusRows returns the rows between the first one holding marker and the cursor: the status
// lines, when the cursor sits below them.
func (t *term) rows() []string { return strings.Split(t.sc.String(), "\n") }

func TestLiveTerminalRedrawsTheStatusLine(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	env.Metrics.Seed = 2
	env.Metrics.Set("request-success-rate", canarytest.FromCall(3, canarytest.Normal(99.9, 0.05, 0, 100), canarytest.Normal(90, 0.5, 0, 100)))
	env.Metrics.Set("request-duration", canarytest.Sequence(110, 120, 130, 650, 125))
	var tm term
	live := progress.NewLive(&tm, progress.Options{Terminal: progress.TerminalAlways, Width: 200})
	require.True(t, live.Terminal())

	type snapshot struct {
		reason canary.Reason
		rows   []string
		row    int
	}
	var snaps []snapshot
	env.Events.Then = func(e canary.Event) {
		live.Handle(e)
		row, col := tm.sc.cursor()
		assert.Zero(t, col, "the cursor waits at the start of a line after %s", e.Reason)
		snaps = append(snaps, snapshot{e.Reason, tm.rows(), row})
	}
	r, err := env.New(canary.Spec{Interval: 30 * time.Second, Threshold: 3, MaxWeight: 50, StepWeight: 5,
		Metrics: seedChecks(), Webhooks: seedHooks()})
	require.NoError(t, err)
	_, err = r.Run(context.Background())
	require.NoError(t, err)
	fmt.Fprintln(live, "$ kubectl -n test set image deployment/podinfo podinfod=stefanprodan/podinfo:3.1.1")
	env.Workload.SetRevision("3.1.1")
	res, err := r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, canary.PhaseFailed, res.Phase)
	fmt.Fprintf(live, "=> %s %s\n", res.Revision, res.Phase)
	require.NoError(t, live.Close())
	require.NoError(t, tm.err, "only the sequences Live means to send")

	// while the release runs, its status line is the last row, exactly once on the screen
	var during []snapshot
	for _, s := range snaps {
		if s.reason != canary.ReasonInitializing && s.reason != canary.ReasonInitialized && s.reason != canary.ReasonFailed {
			during = append(during, s)
		}
	}
	require.NotEmpty(t, during)
	for _, s := range during {
		require.Len(t, s.rows, s.row, "the cursor is below the last row after %s", s.reason)
		last := s.rows[len(s.rows)-1]
		assert.Contains(t, last, "podinfo.test  Progressing", "after %s", s.reason)
		assert.Equal(t, 1, strings.Count(strings.Join(s.rows, "\n"), "podinfo.test  Progressing"), "one status line after %s", s.reason)
	}
	// the steps redraw the status line instead of scrolling
	var advanced []string
	for _, s := range snaps {
		if s.reason == canary.ReasonAdvanced {
			advanced = append(advanced, s.rows[len(s.rows)-1])
		}
	}
	require.Len(t, advanced, 3)
	assert.Equal(t, "00:00:30  podinfo.test  Progressing  [#...................]   5%", advanced[0])
	assert.Equal(t, "00:01:30  podinfo.test  Progressing  [###.................]  15%  ✔ request-success-rate 99.90 >= 99  ✔ request-duration 120.00 <= 500", advanced[2])
	halted := snaps[len(snaps)-3] // the last Halted, before RollingBack and Failed
	require.Equal(t, canary.ReasonHalted, halted.reason)
	assert.Equal(t, "00:03:00  podinfo.test  Progressing  [###.................]  15%  failed checks 3  ✘ request-success-rate 90.22 (want >= 99)  ✔ request-duration 125.00 <= 500",
		halted.rows[len(halted.rows)-1])

	// the control sequences: one status line erased and redrawn each time, red and green marks
	assert.Contains(t, tm.raw.String(), "\x1b[1A\r\x1b[J")
	assert.NotContains(t, tm.raw.String(), "\x1b[2A", "never more than one status line here")
	assert.Contains(t, tm.raw.String(), "\x1b[31m✘\x1b[0m request-success-rate 90.22 (want >= 99)")
	assert.Contains(t, tm.raw.String(), "\x1b[32m✔\x1b[0m request-duration")

	final := tm.sc.String()
	assert.NotContains(t, final, "Advance podinfo.test canary weight", "steps are not scrolled")
	assert.NotContains(t, final, "Progressing", "the status line goes away when the release ends")
	golden(t, "live-rollback", final+"\n")
}

// event returns an event of target ns/name at second s of the test.
func event(ns, name string, s int, reason canary.Reason, weight int, msg string, checks ...canary.CheckResult) canary.Event {
	return canary.Event{Time: time.Unix(1000+int64(s), 0), Target: canary.Target{Namespace: ns, Name: name}, Type: canary.EventNormal,
		Reason: reason, Message: msg, Phase: canary.PhaseProgressing, Weights: canary.CanaryWeight(weight), Checks: checks}
}

func pass(name string, v float64) canary.CheckResult {
	return canary.CheckResult{Name: name, Value: v, Threshold: canary.AtLeast(99), Verdict: canary.VerdictPass}
}

func TestLiveTerminalKeepsOneLinePerTarget(t *testing.T) {
	var tm term
	live := progress.NewLive(&tm, progress.Options{Terminal: progress.TerminalAlways, Width: 120, NoColor: true})
	live.Handle(event("test", "a", 0, canary.ReasonStarted, 0, "Starting canary analysis for a.test"))
	live.Handle(event("prod", "b", 10, canary.ReasonAdvanced, 10, "Advance b.prod canary weight 10", pass("sr", 99.5)))
	live.Handle(event("test", "a", 30, canary.ReasonAdvanced, 20, "Advance a.test canary weight 20", pass("sr", 99.9)))
	require.NoError(t, tm.err)
	assert.Equal(t, strings.Join([]string{
		"00:00:00  Normal   Starting canary analysis for a.test",
		"00:00:30  a.test  Progressing  [####................]  20%  ✔ sr 99.90 >= 99",
		"00:00:10  b.prod  Progressing  [##..................]  10%  ✔ sr 99.50 >= 99",
	}, "\n"), tm.sc.String(), "a's line is redrawn in place, above b's")
	assert.Contains(t, tm.raw.String(), "\x1b[2A\r\x1b[J")
	assert.NotContains(t, tm.raw.String(), "\x1b[3", "no colour with NoColor")

	done := event("test", "a", 60, canary.ReasonSucceeded, 0, "Promotion completed! Scaling down a.test")
	done.Phase = canary.PhaseSucceeded
	live.Handle(done)
	fmt.Fprint(live, "half a line ")
	assert.NotContains(t, tm.sc.String(), "half a line", "text waits for its end of line")
	fmt.Fprint(live, "and the rest\nand a tail")
	live.Handle(event("prod", "b", 70, canary.ReasonAdvanced, 20, "Advance b.prod canary weight 20", pass("sr", 99.6)))
	require.NoError(t, live.Close())
	live.Handle(event("prod", "b", 80, canary.ReasonAdvanced, 30, "Advance b.prod canary weight 30"))
	require.NoError(t, tm.err)
	assert.Equal(t, strings.Join([]string{
		"00:00:00  Normal   Starting canary analysis for a.test",
		"00:01:00  Normal   Promotion completed! Scaling down a.test",
		"half a line and the rest",
		"and a tail",
		"00:01:10  b.prod  Progressing  [####................]  20%  ✔ sr 99.60 >= 99",
		"00:01:20  Normal   Advance b.prod canary weight 30  [######..............]",
	}, "\n"), tm.sc.String(), "a ended: its line is gone; Close prints the tail above b's status, which stays; then events are plain lines")
}

func TestLiveTerminalCutsLinesToTheWidth(t *testing.T) {
	var tm term
	live := progress.NewLive(&tm, progress.Options{Terminal: progress.TerminalAlways, Width: 40})
	live.Handle(event("test", "podinfo", 0, canary.ReasonAdvanced, 10, "Advance podinfo.test canary weight 10",
		pass("request-success-rate", 99.9), pass("request-duration", 99.9)))
	require.NoError(t, tm.err)
	rows := tm.rows()
	require.Len(t, rows, 1)
	assert.Equal(t, 39, utf8.RuneCountInString(rows[0]), "one column short of the width, so the terminal never wraps")
	assert.True(t, strings.HasSuffix(rows[0], "…"), rows[0])

	var narrow term
	live = progress.NewLive(&narrow, progress.Options{Terminal: progress.TerminalAlways, Width: 15})
	live.Handle(event("test", "podinfo", 0, canary.ReasonAdvanced, 10, "Advance podinfo.test canary weight 10"))
	assert.Equal(t, "00:00:00  \x1b[1mpod…\x1b[0m\n", narrow.raw.String(), "a colour cut short is still reset")
}

func TestLiveFallsBackToPlainLines(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	var buf bytes.Buffer
	cases := map[string]struct {
		w    interface{ Write([]byte) (int, error) }
		opts progress.Options
		read func() string
	}{
		"a buffer":                    {&buf, progress.Options{}, buf.String},
		"a file that is not a tty":    {f, progress.Options{}, func() string { b, _ := os.ReadFile(f.Name()); return string(b) }},
		"a terminal, told not to use": {&term{}, progress.Options{Terminal: progress.TerminalNever}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			live := progress.NewLive(c.w, c.opts)
			assert.False(t, live.Terminal())
			e1 := event("test", "podinfo", 0, canary.ReasonAdvanced, 10, "Advance podinfo.test canary weight 10", pass("sr", 99.9))
			e2 := event("test", "podinfo", 90, canary.ReasonAdvanced, 20, "Advance podinfo.test canary weight 20", pass("sr", 99.8))
			live.Handle(e1)
			fmt.Fprint(live, "narration ")
			live.Handle(e2)
			require.NoError(t, live.Close())
			read := c.read
			if read == nil {
				read = c.w.(*term).raw.String
			}
			assert.Equal(t, progress.Line(0, e1)+"\nnarration "+progress.Line(90*time.Second, e2)+"\n", read())
			assert.NotContains(t, read(), "\x1b")
		})
	}
}

func TestLiveStartsTheClockAtOptionsStart(t *testing.T) {
	var buf bytes.Buffer
	e := event("test", "podinfo", 0, canary.ReasonStarted, 0, "Starting canary analysis for podinfo.test")
	live := progress.NewLive(&buf, progress.Options{Start: e.Time.Add(-time.Hour - 61*time.Second)})
	live.Handle(e)
	assert.Equal(t, "01:01:01  Normal   Starting canary analysis for podinfo.test\n", buf.String())
}

func TestLiveNeutralisesHostileText(t *testing.T) {
	var tm term
	live := progress.NewLive(&tm, progress.Options{Terminal: progress.TerminalAlways, Width: 400})
	e := event("test", "podinfo", 0, canary.ReasonHalted, 10, "Halt podinfo.test advancement \x1b[2J\x1b]0;owned\x07 \u202egnp.exe",
		canary.CheckResult{Name: "sr\x1b[31m", Verdict: canary.VerdictNoData, Query: "up\x1b[1A", Err: fmt.Errorf("bad\x9b2J")})
	e.Type = canary.EventWarning
	live.Handle(e)
	live.Handle(event("test", "podinfo", 30, canary.ReasonWaiting, 10, "waiting \x1b[5A for approval"))
	require.NoError(t, tm.err, "nothing from the event reaches the terminal as a control sequence")
	assert.Contains(t, tm.sc.String(), "Halt podinfo.test advancement �[2J�]0;owned� �gnp.exe  ? sr�[31m no data")
	assert.Contains(t, tm.sc.String(), "waiting �[5A for approval")
}

func TestLiveIsSafeForConcurrentRollouts(t *testing.T) {
	var tm term
	live := progress.NewLive(&tm, progress.Options{Terminal: progress.TerminalAlways, Width: 120, NoColor: true})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("app%d", i)
			for step := 1; step <= 20; step++ {
				live.Handle(event("test", name, step, canary.ReasonAdvanced, step*5, "Advance "+name+".test canary weight", pass("sr", 99.9)))
				fmt.Fprintf(live, "%s step %d\n", name, step)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, live.Close())
	require.NoError(t, tm.err)
	rows := tm.rows()
	require.Len(t, rows, 4*20+4, "every written line, then one status line per target")
	for _, r := range rows[:80] {
		assert.Regexp(t, `^app\d step \d+$`, r)
	}
	for _, r := range rows[80:] {
		assert.Regexp(t, `^00:00:19  app\d\.test  Progressing  \[#{20}\] 100%  ✔ sr 99.90 >= 99$`, r)
	}
}

// A target's status line says its mirrored step is mirrored (the time counts from its first
// event).
func TestLiveTerminalShowsTheMirroredStep(t *testing.T) {
	var tm term
	live := progress.NewLive(&tm, progress.Options{Terminal: progress.TerminalAlways, Width: 120, NoColor: true})
	e := event("test", "a", 30, canary.ReasonAdvanced, 0, "Advance a.test canary weight 0", pass("sr", 99.9))
	e.Weights = canary.MirrorToCanary()
	live.Handle(e)
	require.NoError(t, tm.err)
	assert.Equal(t, "00:00:00  a.test  Progressing  [....................]   0% mirrored  ✔ sr 99.90 >= 99", tm.sc.String())
}
