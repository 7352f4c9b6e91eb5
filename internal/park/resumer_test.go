package park

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resumerStates returns the goroutines in resumer by ID, each with its state as the runtime
// prints it ("running", "select", …).
func resumerStates() map[uint64]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[uint64]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if !bytes.Contains(g, []byte("park.resumer(")) {
			continue
		}
		id, state := goroutineHeader(g)
		out[id] = state
	}
	return out
}

// goroutineHeader reads "goroutine 12 [select]:" or "goroutine 12 [select, 2 minutes]:".
func goroutineHeader(stack []byte) (uint64, string) {
	head, _, _ := bytes.Cut(stack, []byte("\n"))
	f := bytes.Fields(head)
	if len(f) < 3 {
		return 0, ""
	}
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	state := bytes.Trim(f[2], "[]:,")
	return id, string(state)
}

// currentGoroutine is the ID of the goroutine that calls it.
func currentGoroutine() uint64 {
	buf := make([]byte, 64)
	id, _ := goroutineHeader(buf[:runtime.Stack(buf, false)])
	return id
}

// A resume after another has ended runs on a goroutine kept from before, not a new one; the
// loop sees it run once, as ever.
func TestResumeRunsOnAKeptGoroutine(t *testing.T) {
	ran := make(chan uint64, 2)
	first := New(func() { ran <- currentGoroutine() })
	first.Parked()
	first.Wake()
	var id1 uint64
	select {
	case id1 = <-ran:
	case <-time.After(time.Minute): // a guard against a hang, not a timing claim
		require.Fail(t, "the first resume did not run")
	}
	require.NotZero(t, id1)

	var waiting map[uint64]string
	require.Eventually(t, func() bool {
		waiting = resumerStates()
		return waiting[id1] == "select"
	}, time.Minute, time.Millisecond, "the goroutine of the first resume waits for another")

	second := New(func() { ran <- currentGoroutine() })
	second.Parked()
	second.Wake()
	select {
	case id2 := <-ran:
		assert.Contains(t, waiting, id2, "the second resume ran on a goroutine that was waiting")
	case <-time.After(time.Minute):
		require.Fail(t, "the second resume did not run")
	}
	second.Wake()
	assert.Empty(t, ran, "a resume runs once")
}

// Many loops resumed at once run side by side; afterwards at most maxIdleResumers goroutines
// wait, and none once resumerLinger has passed.
func TestResumersKeptAreBounded(t *testing.T) {
	const loops = 3 * maxIdleResumers
	release := make(chan struct{})
	started := make(chan struct{}, loops)
	for range loops {
		p := New(func() { started <- struct{}{}; <-release })
		p.Parked()
		p.Wake()
	}
	for i := range loops {
		select {
		case <-started:
		case <-time.After(time.Minute): // a guard against a hang, not a timing claim
			require.Failf(t, "resumes did not run side by side", "%d of %d started", i, loops)
		}
	}
	assert.GreaterOrEqual(t, len(resumerStates()), loops, "each blocked resume holds a goroutine")
	close(release)

	require.Eventually(t, func() bool {
		n := 0
		for _, state := range resumerStates() {
			if state != "select" {
				return false
			}
			n++
		}
		return n <= maxIdleResumers && n > 0
	}, time.Minute, time.Millisecond, "at most %d resumers wait", maxIdleResumers)
	require.Eventually(t, func() bool { return len(resumerStates()) == 0 },
		time.Minute, 10*time.Millisecond, "the waiting resumers end after %v", resumerLinger)
}

// deep uses about n KiB of stack.
//
//go:noinline
func deep(n int) byte {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deep(n-1) + pad[n%len(pad)]
}

// BenchmarkResumeDeep: a wake-up whose resume goes 64 KiB deep, as a tick's JSON encoding and
// HTTP client do, resumed by Wake (on a kept goroutine) and, for comparison, on a new goroutine
// each time.
func BenchmarkResumeDeep(b *testing.B) {
	done := make(chan struct{})
	work := func() { deep(64); done <- struct{}{} }
	b.Run("wake", func(b *testing.B) {
		for b.Loop() {
			p := New(work)
			p.Parked()
			p.Wake()
			<-done
		}
	})
	b.Run("new-goroutine", func(b *testing.B) {
		for b.Loop() {
			go work()
			<-done
		}
	})
}
