package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the flushing goroutine and the test at once, that
// counts its writes.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) read() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// Log lines wait in memory until a tick, a Warning or an Error, or Close, and are then written
// together, in order; with no flush period each line is written at once.
func TestLogBufferHoldsLinesUntilAFlush(t *testing.T) {
	out := &lockedBuffer{}
	ticks := make(chan time.Time)
	stopped := false
	b := &logBuffer{w: out, stop: make(chan struct{}), done: make(chan struct{})}
	b.bw = newLogWriter(out)
	go b.flushEach(ticks, func() { stopped = true })
	log := slog.New(flushingHandler{slog.NewTextHandler(b, nil), b})

	log.Info("advance", "weight", 10)
	log.Info("advance", "weight", 20)
	got, writes := out.read()
	assert.Empty(t, got, "Info lines wait for a flush")
	assert.Zero(t, writes)

	ticks <- time.Time{}
	ticks <- time.Time{} // received once the first tick's flush is done
	got, writes = out.read()
	assert.Equal(t, 1, writes, "the lines gathered are one write")
	require.Equal(t, 2, strings.Count(got, "\n"), got)
	assert.Less(t, strings.Index(got, "weight=10"), strings.Index(got, "weight=20"))

	log.Info("advance", "weight", 30)
	log.Warn("halt", "reason", "success rate")
	got, writes = out.read()
	assert.Equal(t, 2, writes, "a Warning writes itself and what came before it at once")
	assert.Less(t, strings.Index(got, "weight=30"), strings.Index(got, "level=WARN"))

	log.Info("promoted")
	log.Error("rollback")
	got, _ = out.read()
	assert.Contains(t, got, "msg=promoted")
	assert.Contains(t, got, "level=ERROR")

	log.Info("last")
	require.NoError(t, b.Close())
	got, _ = out.read()
	assert.True(t, strings.HasSuffix(got, "msg=last\n"), "Close writes what is left: %q", got)
	assert.True(t, stopped, "Close stops the ticker")
	require.NoError(t, b.Close(), "a second Close is harmless")

	direct := &lockedBuffer{}
	d := newLogBuffer(direct, 0)
	dlog := slog.New(flushingHandler{slog.NewTextHandler(d, nil), d})
	dlog.Info("one")
	dlog.Info("two")
	got, writes = direct.read()
	assert.Equal(t, 2, writes, "with no flush period every line is its own write")
	assert.Contains(t, got, "msg=two")
	require.NoError(t, d.Close())

	// more than the buffer holds is written without waiting for a tick
	big := &lockedBuffer{}
	bb := newLogBuffer(big, time.Hour)
	blog := slog.New(flushingHandler{slog.NewTextHandler(bb, nil), bb})
	line := strings.Repeat("x", 1000)
	for range logBufferSize/1000 + 10 {
		blog.Info(line)
	}
	_, writes = big.read()
	assert.Positive(t, writes, "a full buffer is written at once")
	require.NoError(t, bb.Close())
}
