package kube

import (
	"maps"
	"slices"
	"sync"
)

// Retain keeps ns's informer caches and its watch of control requests (Controls) for the
// caller, who calls release once it no longer reads the namespace: a driver's Target for as
// long as it runs, a release or a retirement for theirs. When the last retention of a
// namespace is released, its informers stop and their watches end (the watch of control
// requests too, once no lease is registered with it), and what they cached is freed; the next
// use starts them again. So a process that drives targets in namespaces that come and go
// (preview environments) holds watches only for the namespaces it drives now. A namespace
// used without Retain keeps its caches until Close. release may be called more than once.
func (c *Cluster) Retain(ns string) (release func()) {
	c.mu.Lock()
	c.retained[ns]++
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { c.release(ns) }) }
}

// release ends one retention of ns, and stops its caches and watch with the last one.
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
	nc := c.caches[ns]
	delete(c.caches, ns)
	cw := c.controls[ns]
	if cw != nil && !cw.retire() {
		cw = nil // a lease still registered (outside any retention): it keeps the watch
	} else {
		delete(c.controls, ns)
	}
	c.mu.Unlock()
	if nc != nil {
		close(nc.stop)
		c.running.Go(nc.factory.Shutdown) // waits for the informers: not under c.mu
	}
	if cw != nil {
		close(cw.stop)
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
