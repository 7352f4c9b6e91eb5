package kube

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Retain keeps ns's informer caches and its watch of control requests (Controls) for the
// caller, who calls release once it no longer reads the namespace: a driver's Target for as
// long as it runs, a release or a retirement for theirs. When the last retention of a
// namespace is released and Options.ReleaseDelay (a minute) passes without another, its
// informers stop and their watches end (the watch of control
// requests too, once no lease is registered with it), and what they cached is freed; the next
// use starts them again. So a process that drives targets in namespaces that come and go
// (preview environments) holds watches only for the namespaces it drives now. A namespace
// only ever used without Retain keeps its caches until Close; one that another caller
// retained stops with that caller's last release, and a read after that starts its caches
// again (so a caller that reads a namespace over time should retain it, or reads may wait
// for a new sync). release may be called more than once.
func (c *Cluster) Retain(ns string) (release func()) {
	c.mu.Lock()
	c.retained[ns]++
	if t := c.releasing[ns]; t != nil {
		t.Stop() // retained again before its release was due
		delete(c.releasing, ns)
	}
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { c.release(ns) }) }
}

// release ends one retention of ns; with the last one, its caches and watch stop after the
// release delay, unless it is retained again meanwhile.
func (c *Cluster) release(ns string) {
	c.mu.Lock()
	if c.retained[ns]--; c.retained[ns] > 0 {
		c.mu.Unlock()
		return
	}
	delete(c.retained, ns)
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.releaseDelay > 0 {
		if t := c.releasing[ns]; t != nil {
			t.Stop()
		}
		var t *time.Timer
		t = time.AfterFunc(c.releaseDelay, func() {
			c.mu.Lock()
			if c.releasing[ns] != t { // retained again, or closed
				c.mu.Unlock()
				return
			}
			delete(c.releasing, ns)
			c.stopNamespace(ns)
		})
		c.releasing[ns] = t
		c.mu.Unlock()
		return
	}
	c.stopNamespace(ns)
}

// stopNamespace stops ns's caches and its watch of control requests (unless a lease is
// registered with it); c.mu is held, and released.
func (c *Cluster) stopNamespace(ns string) {
	if c.closed || c.retained[ns] > 0 {
		c.mu.Unlock()
		return
	}
	nc := c.caches[ns]
	delete(c.caches, ns)
	cw := c.controls[ns]
	if cw != nil && !cw.retire() {
		cw = nil // a lease still registered (outside any retention): it keeps the watch
	} else {
		delete(c.controls, ns)
	}
	if nc != nil {
		close(nc.stop)
		c.running.Add(1) // under c.mu, while not closed: Close's Wait sees it
	}
	c.mu.Unlock()
	if nc != nil {
		go func() { // waits for the informers: not under c.mu
			defer c.running.Done()
			nc.factory.Shutdown()
		}()
	}
	if cw != nil {
		close(cw.stop) // its informer's Run ends; Close waits for it (c.running)
	}
	c.log.V(1).Info("namespace released: its caches and watches stopped", "namespace", ns)
}

// Namespaces returns, sorted, the namespaces whose caches or watch of control requests run
// now.
func (c *Cluster) Namespaces() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := map[string]bool{}
	for ns := range c.caches {
		set[ns] = true
	}
	for ns := range c.controls {
		set[ns] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// retire marks the watch retired unless a lease is registered with it, and reports whether it
// did.
func (cw *controlWatch) retire() bool {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if len(cw.leases) > 0 || len(cw.holders) > 0 {
		return false
	}
	cw.retired = true
	return true
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
