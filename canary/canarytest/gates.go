package canarytest

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/canarykit/canarykit/canary"
)

// Script answers a gate; call counts this hook's calls from 1.
type Script func(call int, req canary.GateRequest) (bool, error)

// Gates is a canary.Gate that answers each hook (by name) from a script, and records every
// request. Hooks without a script pass, except rollback hooks, which do not ask for a
// rollback. The zero value is ready to use; safe for concurrent use.
type Gates struct {
	// Calls counts Allow calls (under "Allow" and under the hook's name).
	Calls Calls

	mu       sync.Mutex
	scripts  map[string]Script
	calls    map[string]int
	requests []canary.GateRequest
}

var _ canary.Gate = (*Gates)(nil)

// Set scripts the hook named name.
func (g *Gates) Set(name string, s Script) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.scripts == nil {
		g.scripts = map[string]Script{}
	}
	g.scripts[name] = s
}

// Allow answers req from its hook's script.
func (g *Gates) Allow(ctx context.Context, req canary.GateRequest) (bool, error) {
	if err := g.Calls.record(ctx, "Allow"); err != nil {
		return false, err
	}
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]int{}
	}
	g.calls[req.Hook.Name]++
	n := g.calls[req.Hook.Name]
	g.requests = append(g.requests, req)
	s := g.scripts[req.Hook.Name]
	g.mu.Unlock()
	if s == nil {
		return req.Hook.Type != canary.HookRollback, nil
	}
	return s(n, req)
}

// Requests returns every request received, in order.
func (g *Gates) Requests() []canary.GateRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// CallsOf returns how many times the hook named name was asked.
func (g *Gates) CallsOf(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[name]
}

// Open always says yes.
func Open() Script { return func(int, canary.GateRequest) (bool, error) { return true, nil } }

// Closed always says no.
func Closed() Script { return func(int, canary.GateRequest) (bool, error) { return false, nil } }

// OpenAfter says no to the first n calls, then yes.
func OpenAfter(n int) Script {
	return func(call int, _ canary.GateRequest) (bool, error) { return call > n, nil }
}

// Fail answers every call with err (a closed gate, a failed hook).
func Fail(err error) Script {
	if err == nil {
		err = errors.New("canarytest: hook failed")
	}
	return func(int, canary.GateRequest) (bool, error) { return false, err }
}

// Answers replies with the given answers in order, repeating the last.
func Answers(answers ...bool) Script {
	return func(call int, _ canary.GateRequest) (bool, error) {
		if len(answers) == 0 {
			return false, nil
		}
		return answers[min(call, len(answers))-1], nil
	}
}
