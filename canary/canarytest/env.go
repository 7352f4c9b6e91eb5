package canarytest

import (
	"sync"

	"github.com/canarykit/canarykit/canary"
)

// Builtins returns a map of the names of Flagger's built-in Linkerd checks to themselves, so a
// Spec that uses them (without a query) is driven by Metrics.Set("request-success-rate", ...).
// Each call returns a new map.
func Builtins() map[string]string {
	return map[string]string{
		"request-success-rate": "request-success-rate",
		"request-duration":     "request-duration",
	}
}

// Env is a whole simulated world for one target, every double sharing one virtual Clock.
// Build a canary.Config from it with Config, script the doubles, and Run.
type Env struct {
	Target   canary.Target
	Clock    *Clock
	Workload *Workload
	Router   *Router
	Metrics  *Metrics
	Store    *Store
	Gates    *Gates
	Events   *Recorder
}

// NewEnv returns an Env for t (podinfo.test when t is zero) at Epoch, whose Metrics see the
// Router's canary weight.
func NewEnv(t canary.Target) *Env {
	if t.Name == "" && t.Namespace == "" {
		t = canary.Target{Namespace: "test", Name: "podinfo"}
	}
	clk := NewClock(Epoch())
	e := &Env{
		Target:   t,
		Clock:    clk,
		Workload: &Workload{Clock: clk},
		Router:   &Router{},
		Store:    &Store{},
		Gates:    &Gates{},
		Events:   &Recorder{},
	}
	e.Metrics = &Metrics{Clock: clk, Weight: func() int {
		w, _ := e.Router.Current(t)
		return w.Canary
	}}
	return e
}

// Config returns a canary.Config for spec wired to the Env's doubles.
func (e *Env) Config(spec canary.Spec) canary.Config {
	return canary.Config{
		Target:   e.Target,
		Spec:     spec,
		Workload: e.Workload,
		Router:   e.Router,
		Metrics:  e.Metrics,
		Store:    e.Store,
		Webhooks: e.Gates,
		Builtins: Builtins(),
		OnEvent:  e.Events.Handle,
		Clock:    e.Clock,
	}
}

// New returns a Rollout for spec wired to the Env's doubles.
func (e *Env) New(spec canary.Spec) (*canary.Rollout, error) { return canary.New(e.Config(spec)) }

// doubles names each double's Calls.
func (e *Env) doubles() map[string]*Calls {
	return map[string]*Calls{
		"Workload": &e.Workload.Calls,
		"Router":   &e.Router.Calls,
		"Metrics":  &e.Metrics.Calls,
		"Store":    &e.Store.Calls,
		"Gates":    &e.Gates.Calls,
	}
}

// Calls returns every double's call counts keyed "Double.Method" (e.g. "Router.SetWeights").
func (e *Env) Calls() map[string]int {
	out := map[string]int{}
	for name, c := range e.doubles() {
		for m, n := range c.Counts() {
			out[name+"."+m] = n
		}
	}
	return out
}

// ResetCalls zeroes every double's call counts.
func (e *Env) ResetCalls() {
	for _, c := range e.doubles() {
		c.Reset()
	}
}

// OnCall sets f as every double's Calls.OnCall hook, receiving "Double.Method". Set it before
// the Rollout runs. f is called with one lock held across the doubles: the checks of one
// analysis tick query concurrently, and f sees their calls one at a time, in the order they
// reach the doubles.
func (e *Env) OnCall(f func(call string)) {
	var mu sync.Mutex
	for name, c := range e.doubles() {
		c.OnCall = func(method string) {
			mu.Lock()
			defer mu.Unlock()
			f(name + "." + method)
		}
	}
}
