package meshtest_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// memHarness runs the suite on routes kept in store: routers that keep their routes in memory
// return the same instance from NewRouter.
func memHarness(store *canarytest.Router, newRouter func() canary.MeshRouter) meshtest.Harness {
	var n atomic.Int32
	return meshtest.Harness{
		NewRouter: func(*testing.T) canary.MeshRouter { return newRouter() },
		NewTarget: func(*testing.T) canary.Target {
			return canary.Target{Namespace: "test", Name: fmt.Sprintf("app%d", n.Add(1))}
		},
		Inspect: func(t *testing.T, tg canary.Target) canary.Weights {
			w, err := store.Current(tg)
			require.NoError(t, err)
			return w
		},
	}
}

// The suite passes against the simulation kit's in-memory router, with and without match,
// mirror and session affinity support.
func TestRunOnCanarytestRouter(t *testing.T) {
	for _, noMatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoMatch=%v", noMatch), func(t *testing.T) {
			router := &canarytest.Router{NoMatch: noMatch, NoMirror: noMatch, NoSessionAffinity: noMatch}
			h := memHarness(router, func() canary.MeshRouter { return router })
			h.Mirror, h.SessionAffinity = !noMatch, !noMatch
			if !noMatch {
				h.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}}}
			}
			meshtest.Run(t, h)
		})
	}
}

// A blue/green-only spread runs too.
func TestRunAllOrNothing(t *testing.T) {
	router := &canarytest.Router{NoMatch: true, NoMirror: true, NoSessionAffinity: true}
	h := memHarness(router, func() canary.MeshRouter { return router })
	h.Weights = []canary.Weights{canary.AllPrimary(), canary.AllCanary()}
	meshtest.Run(t, h)
}
