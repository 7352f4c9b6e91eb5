// Package meshtest is a conformance suite for canary.MeshRouter implementations, in the
// spirit of testing/slogtest: a third-party router passes when Run passes against it.
//
// A test gives Run a Harness: how to make a router (every call a fresh instance over the same
// system of record, as after a restart), how to make a target nobody else uses, and how to read
// a route's weights without the router. Run then checks, each in a subtest, that a new route
// starts at 100 % primary, that weights round-trip, that Reconcile is idempotent and keeps an
// existing route's weights, that invalid weights are refused with canary.ErrInvalidWeights,
// that a new router instance reads the real state (resume), that concurrent targets do not
// interfere, that match conditions round-trip or are refused with
// canary.ErrMatchUnsupported, and that a mirrored step (canary.Weights.Mirrored) round-trips
// and is left by the next step, or a target that mirrors is refused with
// canary.ErrMirrorUnsupported (Harness.Mirror says which), and that a step with a session
// affinity cookie (canary.Target.Affinity) round-trips and the step back to the primary that
// expires it reads all on the primary, or a target with session affinity is refused with
// canary.ErrSessionAffinityUnsupported (Harness.SessionAffinity says which).
//
//	func TestConformance(t *testing.T) {
//		meshtest.Run(t, meshtest.Harness{
//			NewRouter: func(t *testing.T) canary.MeshRouter { return newMyRouter(t) },
//			NewTarget: func(t *testing.T) canary.Target { return createServices(t) },
//			Inspect:   func(t *testing.T, tg canary.Target) canary.Weights { return readRoute(t, tg) },
//		})
//	}
package meshtest
