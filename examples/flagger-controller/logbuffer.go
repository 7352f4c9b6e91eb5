package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// DefaultLogFlush is the controller's --log-flush-frequency: how long a log line may wait in
// memory before it is written. Written one at a time, each line is a system call (a step's
// log line was one of its 23 at 200 Canaries, PERFORMANCE.md); gathered, they are one write
// a flush. Kubernetes' own components buffer their logs the same way (klog's
// --log-flush-frequency, 5 s); a line at Warning level or above is written at once, with
// everything before it.
const DefaultLogFlush = time.Second

// logBuffer gathers log lines for w and writes them every flush period, when it holds
// logBufferSize bytes, when a Warning or an Error is logged, and at Close. Safe for concurrent
// use.
type logBuffer struct {
	mu   sync.Mutex
	bw   *bufio.Writer // nil: every line written at once to w
	w    io.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

const logBufferSize = 64 << 10

// newLogBuffer starts a logBuffer on w; flush <= 0 writes every line at once (no buffer).
func newLogBuffer(w io.Writer, flush time.Duration) *logBuffer {
	b := &logBuffer{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	if flush <= 0 {
		close(b.done)
		return b
	}
	t := time.NewTicker(flush)
	b.bw = newLogWriter(w)
	go b.flushEach(t.C, t.Stop)
	return b
}

// newLogWriter is the buffer a logBuffer gathers lines in.
func newLogWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, logBufferSize) }

// flushEach writes what b holds at each tick until Close; stop is called at the end.
func (b *logBuffer) flushEach(ticks <-chan time.Time, stop func()) {
	defer close(b.done)
	defer stop()
	for {
		select {
		case <-ticks:
			b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write takes one line (a slog handler writes a record in one call). Without a flush period
// it is written at once.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bw == nil {
		return b.w.Write(p)
	}
	return b.bw.Write(p)
}

// Flush writes what is gathered.
func (b *logBuffer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bw == nil {
		return nil
	}
	return b.bw.Flush()
}

// Close stops the periodic flush and writes what is left.
func (b *logBuffer) Close() error {
	b.once.Do(func() {
		select {
		case <-b.done:
		default:
			close(b.stop)
		}
	})
	<-b.done
	return b.Flush()
}

// flushingHandler writes its buffer out after each record at Warning level or above, so that
// what goes wrong (and what led to it) is never held back.
type flushingHandler struct {
	slog.Handler
	buf *logBuffer
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf}
}
