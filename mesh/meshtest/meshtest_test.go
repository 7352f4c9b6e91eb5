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

// The suite passes against the simulation kit's in-memory router, which keeps its routes in
// memory (so NewRouter returns the same instance), with and without match support.
func TestRunOnCanarytestRouter(t *testing.T) {
	for _, noMatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoMatch=%v", noMatch), func(t *testing.T) {
			router := &canarytest.Router{NoMatch: noMatch}
			var n atomic.Int32
			h := meshtest.Harness{
				NewRouter: func(*testing.T) canary.MeshRouter { return router },
				NewTarget: func(*testing.T) canary.Target {
					return canary.Target{Namespace: "test", Name: fmt.Sprintf("app%d", n.Add(1))}
				},
				Inspect: func(t *testing.T, tg canary.Target) canary.Weights {
					w, err := router.Current(tg)
					require.NoError(t, err)
					return w
				},
			}
			if !noMatch {
				h.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}}}
			}
			meshtest.Run(t, h)
		})
	}
}

// A blue/green-only spread runs too.
func TestRunAllOrNothing(t *testing.T) {
	router := &canarytest.Router{NoMatch: true}
	var n atomic.Int32
	meshtest.Run(t, meshtest.Harness{
		NewRouter: func(*testing.T) canary.MeshRouter { return router },
		NewTarget: func(*testing.T) canary.Target {
			return canary.Target{Namespace: "test", Name: fmt.Sprintf("bg%d", n.Add(1))}
		},
		Inspect: func(t *testing.T, tg canary.Target) canary.Weights {
			w, err := router.Current(tg)
			require.NoError(t, err)
			return w
		},
		Weights: []canary.Weights{canary.AllPrimary, canary.AllCanary},
	})
}
