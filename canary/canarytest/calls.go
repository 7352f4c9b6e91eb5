package canarytest

import (
	"context"
	"fmt"
	"maps"
	"sync"
)

// Calls counts the calls a double received, per method, and injects failures. The zero value
// is ready to use; safe for concurrent use.
type Calls struct {
	// OnCall, if set, is called at the start of every call, before the call checks its context:
	// a test that cancels the context there simulates a process dying just before that call.
	// Set it before the calls start.
	OnCall func(method string)

	mu     sync.Mutex
	counts map[string]int
	faults map[string][]error
}

// Count returns how many times method was called.
func (c *Calls) Count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[method]
}

// Counts returns a copy of every method's count.
func (c *Calls) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Total returns the number of calls to all methods.
func (c *Calls) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Reset zeroes the counts (injected failures stay).
func (c *Calls) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
}

// FailNext makes the next n calls of method return err.
func (c *Calls) FailNext(method string, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faults == nil {
		c.faults = map[string][]error{}
	}
	for range n {
		c.faults[method] = append(c.faults[method], err)
	}
}

// record counts a call of method and returns ctx's error, or the failure injected for it.
func (c *Calls) record(ctx context.Context, method string) error {
	if c.OnCall != nil {
		c.OnCall(method)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[method]++
	if fs := c.faults[method]; len(fs) > 0 {
		c.faults[method] = fs[1:]
		if fs[0] == nil {
			return fmt.Errorf("canarytest: injected failure of %s", method)
		}
		return fs[0]
	}
	return nil
}
