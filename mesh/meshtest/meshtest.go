package meshtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// Harness tells the suite how to exercise one canary.MeshRouter implementation.
type Harness struct {
	// NewRouter returns a router. Every call must return an instance that shares nothing with
	// the earlier ones but the system of record (the cluster), like a restarted process; a
	// router that keeps its routes in memory returns the same instance every time. Required.
	NewRouter func(t *testing.T) canary.MeshRouter
	// NewTarget returns a target no other test uses, with whatever the router needs already in
	// place (a namespace, the apex, primary and canary Services, ...). Its Match is ignored.
	// Required.
	NewTarget func(t *testing.T) canary.Target
	// Inspect reads target's route from the system of record without any router under test
	// (e.g. a GET through another client) and returns its weights. Required.
	Inspect func(t *testing.T, target canary.Target) canary.Weights
	// Weights are the weights the router can route, in the order the suite sets them. Default:
	// a spread from 100/0 to 0/100. A router that only switches all traffic (blue/green)
	// lists canary.AllPrimary() and canary.AllCanary().
	Weights []canary.Weights
	// Match, when set, is a match condition the router supports: the suite runs its checks on
	// a target with it as well. When nil, the suite expects Reconcile to refuse a target with
	// match conditions with an error wrapping canary.ErrMatchUnsupported.
	Match []canary.Match
	// MatchWeights are the weights the suite sets on a target with Match, for a router that
	// sends matching requests all to one side (ingress-nginx): canary.AllPrimary() and
	// canary.AllCanary(). Default: Weights.
	MatchWeights []canary.Weights
	// Mirror says the router can mirror requests to the canary (canary.Weights.Mirrored): the
	// suite sets mirrored weights on a target that mirrors and reads them back through the
	// router (Inspect's weights are compared without the mirror). When false, the suite
	// expects Reconcile to refuse a target that mirrors with an error wrapping
	// canary.ErrMirrorUnsupported.
	Mirror bool
	// SessionAffinity says the router keeps sessions on the canary with a cookie
	// (canary.Target.Affinity): the suite routes weights with a release's cookie, then all
	// traffic to the primary expiring it, and reads them back through the router and a new
	// instance of it (Inspect only at weight 0: with a cookie route before the weighted one, the
	// route's first rule is not the weighted split). When false, the suite expects Reconcile to
	// refuse a target with session affinity with an error wrapping
	// canary.ErrSessionAffinityUnsupported.
	SessionAffinity bool
	// Timeout bounds each router call. Default 30s.
	Timeout time.Duration
}

// DefaultWeights returns the spread of weights the suite sets when Harness.Weights is empty; the
// slice is the caller's.
func DefaultWeights() []canary.Weights {
	return []canary.Weights{
		canary.CanaryWeight(0), canary.CanaryWeight(1), canary.CanaryWeight(5), canary.CanaryWeight(10),
		canary.CanaryWeight(33), canary.CanaryWeight(50), canary.CanaryWeight(67), canary.CanaryWeight(99),
		canary.CanaryWeight(100), canary.CanaryWeight(20), canary.CanaryWeight(0),
	}
}

// a match condition for routers that cannot match
var probeMatch = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "insider"}}}}

// Run runs the conformance suite against the routers h makes, each check in a subtest:
//
//   - NewRoute: Reconcile creates a route that sends everything to the primary, and a second
//     Reconcile changes nothing;
//   - RoundTrip: every weight in h.Weights reads back, through the router and through
//     Inspect, as set, and sums to 100;
//   - ReconcileKeepsWeights: Reconcile on an existing route keeps its weights;
//   - InvalidWeights: weights out of range or not summing to 100 are refused with
//     canary.ErrInvalidWeights, and the route stays as it was;
//   - Resume: a new router instance reads the weights an earlier one set, and the earlier
//     instance still sets weights correctly after the new one changed them;
//   - ConcurrentTargets: routers set weights of several targets at once without interference;
//   - Match: the checks above on a target with match conditions (setting h.MatchWeights), or
//     the refusal with canary.ErrMatchUnsupported;
//   - Mirror: a mirrored step reads back mirrored, through the router and a new instance of
//     it, and is kept by Reconcile; the steps after it (a weight, or all traffic to the
//     primary) read back without the mirror. Or, without h.Mirror, the refusal with
//     canary.ErrMirrorUnsupported;
//   - SessionAffinity: a step with a release's cookie reads back, through the router and a new
//     instance of it, and is kept by Reconcile; the step back to the primary that expires the
//     cookie reads back all on the primary, and so does the route of the target once it has no
//     session affinity. Or, without h.SessionAffinity, the refusal with
//     canary.ErrSessionAffinityUnsupported.
func Run(t *testing.T, h Harness) {
	t.Helper()
	require.NotNil(t, h.NewRouter, "Harness.NewRouter")
	require.NotNil(t, h.NewTarget, "Harness.NewTarget")
	require.NotNil(t, h.Inspect, "Harness.Inspect")
	s := &suite{h: h}
	if len(s.h.Weights) == 0 {
		s.h.Weights = DefaultWeights()
	}
	if len(s.h.MatchWeights) == 0 {
		s.h.MatchWeights = s.h.Weights
	}
	if s.h.Timeout == 0 {
		s.h.Timeout = 30 * time.Second
	}
	t.Run("NewRoute", func(t *testing.T) { s.newRoute(t, nil) })
	t.Run("RoundTrip", func(t *testing.T) { s.roundTrip(t, nil) })
	t.Run("ReconcileKeepsWeights", func(t *testing.T) { s.reconcileKeeps(t, nil) })
	t.Run("InvalidWeights", s.invalidWeights)
	t.Run("Resume", s.resume)
	t.Run("ConcurrentTargets", s.concurrentTargets)
	t.Run("Match", func(t *testing.T) {
		if h.Match == nil {
			s.matchRefused(t)
			return
		}
		t.Run("NewRoute", func(t *testing.T) { s.newRoute(t, h.Match) })
		t.Run("RoundTrip", func(t *testing.T) { s.roundTrip(t, h.Match) })
		t.Run("ReconcileKeepsWeights", func(t *testing.T) { s.reconcileKeeps(t, h.Match) })
	})
	t.Run("Mirror", func(t *testing.T) {
		if !h.Mirror {
			s.mirrorRefused(t)
			return
		}
		s.mirror(t)
	})
	t.Run("SessionAffinity", func(t *testing.T) {
		if !h.SessionAffinity {
			s.affinityRefused(t)
			return
		}
		s.sessionAffinity(t)
	})
}

type suite struct{ h Harness }

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) target(t *testing.T, match []canary.Match) canary.Target {
	tg := s.h.NewTarget(t)
	tg.Match = match
	return tg
}

// weights are the weights the suite sets on a target with match (none: without).
func (s *suite) weights(match []canary.Match) []canary.Weights {
	if len(match) > 0 {
		return s.h.MatchWeights
	}
	return s.h.Weights
}

// mid is a weight from the middle of the spread (a split if the router can split).
func (s *suite) mid(i int) canary.Weights { return s.midOf(s.h.Weights, i) }

// midOf is mid over ws.
func (s *suite) midOf(ws []canary.Weights, i int) canary.Weights {
	var inner []canary.Weights
	for _, w := range ws {
		if w != canary.AllPrimary() {
			inner = append(inner, w)
		}
	}
	if len(inner) == 0 {
		return canary.AllPrimary()
	}
	return inner[(len(inner)/2+i)%len(inner)]
}

// expect checks target's weights through r and through Inspect.
func (s *suite) expect(t *testing.T, r canary.MeshRouter, target canary.Target, want canary.Weights, msg string) {
	t.Helper()
	got, err := r.Weights(s.ctx(t), target)
	require.NoError(t, err, "%s: Weights", msg)
	assert.NoError(t, got.Validate(), "%s: Weights must sum to 100", msg)
	assert.Equal(t, want, got, "%s: Weights", msg)
	assert.Equal(t, want, s.h.Inspect(t, target), "%s: the route in the system of record", msg)
}

func (s *suite) newRoute(t *testing.T, match []canary.Match) {
	r, target := s.h.NewRouter(t), s.target(t, match)
	require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile")
	s.expect(t, r, target, canary.AllPrimary(), "new route")
	require.NoError(t, r.Reconcile(s.ctx(t), target), "second Reconcile")
	s.expect(t, r, target, canary.AllPrimary(), "after a second Reconcile")
}

func (s *suite) roundTrip(t *testing.T, match []canary.Match) {
	r, target := s.h.NewRouter(t), s.target(t, match)
	require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile")
	for _, w := range s.weights(match) {
		require.NoError(t, r.SetWeights(s.ctx(t), target, w), "SetWeights(%s)", w)
		s.expect(t, r, target, w, "after SetWeights("+w.String()+")")
	}
}

func (s *suite) reconcileKeeps(t *testing.T, match []canary.Match) {
	r, target := s.h.NewRouter(t), s.target(t, match)
	require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile")
	w := s.midOf(s.weights(match), 0)
	require.NoError(t, r.SetWeights(s.ctx(t), target, w), "SetWeights(%s)", w)
	for i := range 2 {
		require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile #%d on an existing route", i+1)
		s.expect(t, r, target, w, "after Reconcile on a route at "+w.String())
	}
}

// other is the first weight of the spread that differs from w.
func (s *suite) other(w canary.Weights) canary.Weights {
	for _, o := range s.h.Weights {
		if o != w {
			return o
		}
	}
	return w
}

func (s *suite) invalidWeights(t *testing.T) {
	r, target := s.h.NewRouter(t), s.target(t, nil)
	require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile")
	w := s.mid(0)
	require.NoError(t, r.SetWeights(s.ctx(t), target, w), "SetWeights(%s)", w)
	for _, bad := range []canary.Weights{{Primary: 60, Canary: 50}, {Primary: -10, Canary: 110},
		{Primary: 110, Canary: -10}, {}, {Primary: 50, Canary: 49}} {
		err := r.SetWeights(s.ctx(t), target, bad)
		assert.ErrorIs(t, err, canary.ErrInvalidWeights, "SetWeights(%s)", bad)
	}
	s.expect(t, r, target, w, "after refused weights")
}

func (s *suite) resume(t *testing.T) {
	first, target := s.h.NewRouter(t), s.target(t, nil)
	require.NoError(t, first.Reconcile(s.ctx(t), target), "Reconcile")
	w1 := s.mid(0)
	w2, w3 := s.other(w1), w1
	require.NoError(t, first.SetWeights(s.ctx(t), target, w1), "SetWeights(%s)", w1)

	second := s.h.NewRouter(t)
	require.NoError(t, second.Reconcile(s.ctx(t), target), "Reconcile by a new router instance")
	s.expect(t, second, target, w1, "a new router instance reads the route")
	require.NoError(t, second.SetWeights(s.ctx(t), target, w2), "SetWeights(%s) by the new instance", w2)
	s.expect(t, first, target, w2, "the first instance reads what the second set")
	require.NoError(t, first.SetWeights(s.ctx(t), target, w3), "SetWeights(%s) by the first instance after the second wrote", w3)
	s.expect(t, second, target, w3, "the second instance reads what the first set")
}

func (s *suite) concurrentTargets(t *testing.T) {
	const n = 4
	r := s.h.NewRouter(t)
	targets := make([]canary.Target, n)
	for i := range targets {
		targets[i] = s.target(t, nil)
	}
	final := make([]canary.Weights, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
			defer cancel()
			if err := r.Reconcile(ctx, target); err != nil {
				errs[i] = fmt.Errorf("Reconcile %s: %w", target, err)
				return
			}
			for j := range len(s.h.Weights) {
				w := s.h.Weights[(i+j)%len(s.h.Weights)]
				if err := r.SetWeights(ctx, target, w); err != nil {
					errs[i] = fmt.Errorf("SetWeights %s %s: %w", target, w, err)
					return
				}
				final[i] = w
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for i, target := range targets {
		s.expect(t, r, target, final[i], "target "+target.String())
	}
}

// mirrorTarget is a target that mirrors half of the requests.
func (s *suite) mirrorTarget(t *testing.T) canary.Target {
	tg := s.target(t, nil)
	tg.Mirror = 50
	return tg
}

// expectMirror checks the weights a router and Inspect read: the router's exactly, Inspect's
// without the mirror.
func (s *suite) expectMirror(t *testing.T, r canary.MeshRouter, target canary.Target, want canary.Weights, msg string) {
	t.Helper()
	got, err := r.Weights(s.ctx(t), target)
	require.NoError(t, err, "%s: Weights", msg)
	assert.Equal(t, want, got, "%s: Weights", msg)
	in := s.h.Inspect(t, target)
	in.Mirrored = false
	want.Mirrored = false
	assert.Equal(t, want, in, "%s: the route in the system of record", msg)
}

func (s *suite) mirror(t *testing.T) {
	r, target := s.h.NewRouter(t), s.mirrorTarget(t)
	require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile")
	s.expectMirror(t, r, target, canary.AllPrimary(), "new route")
	require.NoError(t, r.SetWeights(s.ctx(t), target, canary.MirrorToCanary()), "SetWeights(mirrored)")
	s.expectMirror(t, r, target, canary.MirrorToCanary(), "mirrored step")
	second := s.h.NewRouter(t)
	require.NoError(t, second.Reconcile(s.ctx(t), target), "Reconcile by a new router instance")
	s.expectMirror(t, second, target, canary.MirrorToCanary(), "a new router instance reads the mirror; Reconcile keeps it")
	next := s.mid(0)
	require.NoError(t, r.SetWeights(s.ctx(t), target, next), "SetWeights(%s) after the mirrored step", next)
	s.expectMirror(t, r, target, next, "the step after the mirrored one")
	require.NoError(t, r.SetWeights(s.ctx(t), target, canary.MirrorToCanary()), "SetWeights(mirrored) again")
	require.NoError(t, second.SetWeights(s.ctx(t), target, canary.AllPrimary()), "SetWeights(all primary) by the new instance")
	s.expectMirror(t, r, target, canary.AllPrimary(), "a rollback from the mirrored step leaves no mirror")
}

func (s *suite) mirrorRefused(t *testing.T) {
	r, target := s.h.NewRouter(t), s.mirrorTarget(t)
	err := r.Reconcile(s.ctx(t), target)
	assert.ErrorIs(t, err, canary.ErrMirrorUnsupported, "Reconcile of a target that mirrors")
}

func (s *suite) matchRefused(t *testing.T) {
	r, target := s.h.NewRouter(t), s.target(t, probeMatch)
	err := r.Reconcile(s.ctx(t), target)
	assert.ErrorIs(t, err, canary.ErrMatchUnsupported, "Reconcile of a target with match conditions")
}

// withAffinity is target with session affinity (a primary cookie too) and the given cookies.
func withAffinity(target canary.Target, cookie, previous string) canary.Target {
	target.Affinity = &canary.Affinity{
		SessionAffinity: canary.SessionAffinity{CookieName: "meshtest-canary", PrimaryCookieName: "meshtest-primary", SameSite: "Lax"},
		PrimaryMaxAge:   time.Minute, Cookie: cookie, PrimaryCookie: "meshtest-primary=PRIMARY", PreviousCookie: previous,
	}
	return target
}

func (s *suite) sessionAffinity(t *testing.T) {
	const cookie = "meshtest-canary=RELEASE"
	r, base := s.h.NewRouter(t), s.target(t, nil)
	target := withAffinity(base, "", "")
	require.NoError(t, r.Reconcile(s.ctx(t), target), "Reconcile")
	s.expect(t, r, target, canary.AllPrimary(), "new route")

	target = withAffinity(base, cookie, "")
	w := s.mid(0)
	if w.Canary == 0 {
		w = canary.AllCanary()
	}
	require.NoError(t, r.SetWeights(s.ctx(t), target, w), "SetWeights(%s) with a cookie", w)
	expectRouter := func(r canary.MeshRouter, want canary.Weights, msg string) {
		t.Helper()
		got, err := r.Weights(s.ctx(t), target)
		require.NoError(t, err, "%s: Weights", msg)
		assert.Equal(t, want, got, "%s: Weights", msg)
	}
	expectRouter(r, w, "a step with the release's cookie")
	second := s.h.NewRouter(t)
	require.NoError(t, second.Reconcile(s.ctx(t), target), "Reconcile by a new router instance")
	expectRouter(second, w, "a new router instance reads the step; Reconcile keeps it")

	target = withAffinity(base, "", cookie)
	require.NoError(t, second.SetWeights(s.ctx(t), target, canary.AllPrimary()), "SetWeights(all primary) expiring the cookie")
	s.expect(t, r, target, canary.AllPrimary(), "the step back to the primary")
	require.NoError(t, r.Reconcile(s.ctx(t), base), "Reconcile of the target without session affinity")
	s.expect(t, r, base, canary.AllPrimary(), "the target without session affinity")
}

func (s *suite) affinityRefused(t *testing.T) {
	r, target := s.h.NewRouter(t), withAffinity(s.target(t, nil), "", "")
	err := r.Reconcile(s.ctx(t), target)
	assert.ErrorIs(t, err, canary.ErrSessionAffinityUnsupported, "Reconcile of a target with session affinity")
}
