package meshtest_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/mesh/meshtest"
)

// resetting resets the weights on every Reconcile.
type resetting struct{ *canarytest.Router }

func (r resetting) Reconcile(ctx context.Context, t canary.Target) error {
	if err := r.Router.Reconcile(ctx, t); err != nil {
		return err
	}
	r.Set(t, canary.AllPrimary())
	return nil
}

// unchecked routes whatever it is given.
type unchecked struct{ *canarytest.Router }

func (r unchecked) SetWeights(_ context.Context, t canary.Target, w canary.Weights) error {
	r.Set(t, w)
	return nil
}

// unmirrored routes mirrored weights without the mirror.
type unmirrored struct{ *canarytest.Router }

func (r unmirrored) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	w.Mirrored = false
	return r.Router.SetWeights(ctx, t, w)
}

// caching answers Weights from what this instance last set, not from the system of record.
type caching struct {
	*canarytest.Router
	mu   sync.Mutex
	last map[string]canary.Weights
}

func (r *caching) SetWeights(ctx context.Context, t canary.Target, w canary.Weights) error {
	if err := r.Router.SetWeights(ctx, t, w); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[t.String()] = w
	return nil
}

func (r *caching) Weights(ctx context.Context, t canary.Target) (canary.Weights, error) {
	r.mu.Lock()
	w, ok := r.last[t.String()]
	r.mu.Unlock()
	if ok {
		return w, nil
	}
	return r.Router.Weights(ctx, t)
}

// TestBrokenRouter is run by TestSuiteCatchesBrokenRouters in a child process.
func TestBrokenRouter(t *testing.T) {
	kind := os.Getenv("MESHTEST_BROKEN")
	if kind == "" {
		t.Skip("run by TestSuiteCatchesBrokenRouters")
	}
	store := &canarytest.Router{}
	h := memHarness(store, func() canary.MeshRouter {
		switch kind {
		case "resetting":
			return resetting{store}
		case "unchecked":
			return unchecked{store}
		case "unmirrored":
			return unmirrored{store}
		default:
			return &caching{Router: store, last: map[string]canary.Weights{}}
		}
	})
	h.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x-canary": {Exact: "1"}}}}
	h.Mirror, h.SessionAffinity = true, true
	meshtest.Run(t, h)
}

// The suite fails a router that breaks each contract, naming the check.
func TestSuiteCatchesBrokenRouters(t *testing.T) {
	for kind, failing := range map[string]string{
		"resetting":  "ReconcileKeepsWeights",
		"unchecked":  "InvalidWeights",
		"caching":    "Resume",
		"unmirrored": "Mirror",
	} {
		t.Run(kind, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenRouter$", "-test.v")
			cmd.Env = append(os.Environ(), "MESHTEST_BROKEN="+kind)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the suite must fail a %s router:\n%s", kind, out)
			assert.Regexp(t, regexp.MustCompile(`--- FAIL: TestBrokenRouter/`+failing+`\b`), string(out))
		})
	}
}
