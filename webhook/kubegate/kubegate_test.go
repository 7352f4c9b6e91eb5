package kubegate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/webhook/kubegate"
)

var podinfo = canary.Target{Namespace: "test", Name: "podinfo"}

// gateLabels are the labels of podinfo's gate ConfigMap.
var gateLabels = map[string]string{canary.LabelManagedBy: canary.ManagedBy, kubegate.LabelTarget: "podinfo"}

func newGates(t *testing.T, cs *fake.Clientset, keep bool) *kubegate.Gates {
	t.Helper()
	g, err := kubegate.New(kubegate.Config{Client: cs.CoreV1(), Target: podinfo, KeepApprovals: keep})
	require.NoError(t, err)
	return g
}

func ask(t *testing.T, g canary.Gate, typ canary.HookType) bool {
	t.Helper()
	ok, err := g.Allow(context.Background(), canary.GateRequest{Hook: canary.Webhook{Name: "manual", Type: typ}, Target: podinfo})
	require.NoError(t, err)
	return ok
}

func TestGatesStartClosed(t *testing.T) {
	g := newGates(t, fake.NewClientset(), false)
	for _, typ := range []canary.HookType{canary.HookConfirmRollout, canary.HookConfirmTrafficIncrease,
		canary.HookConfirmPromotion, canary.HookRollback} {
		assert.False(t, ask(t, g, typ), typ)
	}
	_, err := g.Allow(context.Background(), canary.GateRequest{Hook: canary.Webhook{Type: canary.HookRollout}})
	assert.ErrorIs(t, err, kubegate.ErrGateType)
}

func TestApproveHaltAndRollback(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	g := newGates(t, cs, false)

	require.NoError(t, g.Approve(ctx, canary.HookConfirmPromotion))
	cm, err := cs.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-canarykit-gates", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"confirm-promotion": "open"}, cm.Data)
	assert.Equal(t, map[string]string{"app.kubernetes.io/managed-by": "canarykit", "canarykit.dev/target": "podinfo"}, cm.Labels)
	assert.True(t, ask(t, g, canary.HookConfirmPromotion))
	assert.False(t, ask(t, g, canary.HookConfirmRollout), "gates are per type")

	require.NoError(t, g.RequestRollback(ctx))
	assert.True(t, ask(t, g, canary.HookRollback))
	require.NoError(t, g.CancelRollback(ctx))
	assert.False(t, ask(t, g, canary.HookRollback))

	require.NoError(t, g.Halt(ctx, canary.HookConfirmPromotion))
	assert.False(t, ask(t, g, canary.HookConfirmPromotion))
	state, err := g.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[canary.HookType]bool{canary.HookConfirmRollout: false, canary.HookConfirmTrafficIncrease: false,
		canary.HookConfirmPromotion: false, canary.HookRollback: false}, state)

	assert.ErrorIs(t, g.Approve(ctx, canary.HookRollback), kubegate.ErrGateType)
	assert.ErrorIs(t, g.Halt(ctx, canary.HookPreRollout), kubegate.ErrGateType)
}

func TestOtherKeysAndValues(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canarykit-gates", Namespace: "test", Labels: gateLabels},
		Data:       map[string]string{"confirm-rollout": "true", "note": "kept"},
	})
	g := newGates(t, cs, false)
	assert.False(t, ask(t, g, canary.HookConfirmRollout), `only "open" opens`)
	require.NoError(t, g.Approve(ctx, canary.HookConfirmRollout))
	cm, err := cs.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-canarykit-gates", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"confirm-rollout": "open", "note": "kept"}, cm.Data)

	// A write that changes nothing makes no request.
	cs.ClearActions()
	require.NoError(t, g.Approve(ctx, canary.HookConfirmRollout))
	assert.Len(t, cs.Actions(), 1, "one GET, no update")
}

func TestWritesRetryConflicts(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	g := newGates(t, cs, false)
	require.NoError(t, g.Approve(ctx, canary.HookConfirmRollout))

	conflicts := 2
	cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "podinfo-canarykit-gates", errors.New("stale"))
		}
		return false, nil, nil
	})
	cs.ClearActions()
	require.NoError(t, g.Approve(ctx, canary.HookConfirmPromotion))
	assert.Equal(t, 0, conflicts)
	assert.Equal(t, 6, len(cs.Actions()), "three rounds of get + update")
	assert.True(t, ask(t, g, canary.HookConfirmPromotion))
	assert.True(t, ask(t, g, canary.HookConfirmRollout), "the earlier approval is kept")
}

func TestCreateRaceRetries(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	g := newGates(t, cs, false)
	raced := false
	// Another writer creates the ConfigMap between our GET and our create.
	cs.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canarykit-gates", Namespace: "test", Labels: gateLabels},
			Data: map[string]string{"rollback": "open"}}
		require.NoError(t, cs.Tracker().Add(other))
		return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "configmaps"}, other.Name)
	})
	require.NoError(t, g.Approve(ctx, canary.HookConfirmPromotion))
	state, err := g.State(ctx)
	require.NoError(t, err)
	assert.True(t, state[canary.HookConfirmPromotion])
	assert.True(t, state[canary.HookRollback], "the other writer's change survives")
}

func TestReadErrorsAreReported(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "podinfo-canarykit-gates", errors.New("RBAC"))
	})
	g := newGates(t, cs, false)
	ok, err := g.Allow(context.Background(), canary.GateRequest{Hook: canary.Webhook{Type: canary.HookConfirmPromotion}})
	assert.False(t, ok)
	assert.ErrorContains(t, err, "read gates of podinfo.test from configmap podinfo-canarykit-gates")
	assert.True(t, apierrors.IsForbidden(err))
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := kubegate.New(kubegate.Config{})
	require.ErrorIs(t, err, kubegate.ErrInvalidConfig)
	assert.ErrorContains(t, err, "Client: required")
	assert.ErrorContains(t, err, "Target: namespace and name are required")

	g, err := kubegate.New(kubegate.Config{Client: fake.NewClientset().CoreV1(), Target: podinfo, ConfigMap: "gates"})
	require.NoError(t, err)
	assert.Equal(t, "gates", g.ConfigMap())
	assert.Equal(t, "podinfo-canarykit-gates", kubegate.ConfigMapName(podinfo))
}

func TestHooks(t *testing.T) {
	g := newGates(t, fake.NewClientset(), false)
	hooks, err := g.Hooks(canary.HookConfirmPromotion, canary.HookRollback)
	require.NoError(t, err)
	var names []string
	for _, h := range hooks {
		names = append(names, string(h.Type)+"/"+h.Name)
	}
	assert.Equal(t, []string{"confirm-promotion/manual-confirm-promotion", "rollback/manual-rollback",
		"post-rollout/" + kubegate.ResetHookName}, names)

	keep := newGates(t, fake.NewClientset(), true)
	hooks, err = keep.Hooks(canary.HookConfirmRollout)
	require.NoError(t, err)
	assert.Len(t, hooks, 1, "KeepApprovals: no reset hook")

	_, err = g.Hooks(canary.HookEvent)
	assert.ErrorIs(t, err, kubegate.ErrGateType)
}

// A release waits for promotion approval; the process stops; an operator approves from
// another process; a new Rollout resumes and promotes; the approval ends with the release.
func TestApprovalSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset() // stands in for the cluster both processes talk to
	env := canarytest.NewEnv(podinfo)
	env.Metrics.Set("request-success-rate", canarytest.Constant(100))
	spec := canary.Spec{Interval: time.Minute, StepWeight: 25, MaxWeight: 50,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}}

	newRollout := func(stop func()) *canary.Rollout {
		g := newGates(t, cs, false)
		hooks, err := g.Hooks(canary.HookConfirmPromotion, canary.HookRollback)
		require.NoError(t, err)
		cfg := env.Config(spec)
		cfg.Gates = hooks
		env.Events.Then = func(e canary.Event) {
			if e.Reason == canary.ReasonWaiting && stop != nil {
				stop() // the process goes away while the release waits
			}
		}
		r, err := canary.New(cfg)
		require.NoError(t, err)
		return r
	}

	first, stop := context.WithCancel(ctx)
	r := newRollout(stop)
	_, err := r.Run(first) // bootstrap
	require.NoError(t, err)
	env.Workload.SetRevision("v1")
	res, err := r.Run(first)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, canary.PhaseWaitingPromotion, res.Phase)
	assert.Equal(t, canary.PhaseWaitingPromotion, env.Store.Current(podinfo).Phase)

	operator := newGates(t, cs, false)
	require.NoError(t, operator.Approve(ctx, canary.HookConfirmPromotion))

	res, err = newRollout(nil).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, 1, env.Workload.Calls.Count("Promote"))

	state, err := operator.State(ctx)
	require.NoError(t, err)
	assert.False(t, state[canary.HookConfirmPromotion], "the approval ended with the release")
}

// A write whose request times out is an error, not a success: client-go's retry helper reads an
// error wrapping context.DeadlineExceeded as the end of its own backoff and returns nil.
func TestATimedOutWriteIsAnError(t *testing.T) {
	cs := fake.NewClientset()
	g := newGates(t, cs, false)
	cs.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("client rate limiter Wait returned an error: %w", context.DeadlineExceeded)
	})
	err := g.Approve(context.Background(), canary.HookConfirmPromotion)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "write gates of podinfo.test to configmap podinfo-canarykit-gates")
}

// A ConfigMap of the gates' name that kubegate did not make (without its labels, or labelled
// for another target) holds no gates: its keys are not read as answers and nothing writes it.
func TestForeignConfigMapIsNeitherReadNorWritten(t *testing.T) {
	ctx := context.Background()
	for name, labels := range map[string]map[string]string{
		"unlabelled":      nil,
		"another manager": {canary.LabelManagedBy: "helm", kubegate.LabelTarget: "podinfo"},
		"another target":  {canary.LabelManagedBy: canary.ManagedBy, kubegate.LabelTarget: "frontend"},
		"no target label": {canary.LabelManagedBy: canary.ManagedBy},
	} {
		t.Run(name, func(t *testing.T) {
			data := map[string]string{"confirm-promotion": "open", "rollback": "open", "user": "data"}
			cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-canarykit-gates", Namespace: "test", Labels: labels},
				Data: data})
			g := newGates(t, cs, false)

			open, err := g.Allow(ctx, canary.GateRequest{Hook: canary.Webhook{Type: canary.HookConfirmPromotion}})
			require.ErrorIs(t, err, kubegate.ErrNotManaged)
			assert.ErrorContains(t, err, "configmap test/podinfo-canarykit-gates")
			assert.False(t, open, "a foreign key is no approval")
			_, err = g.State(ctx)
			require.ErrorIs(t, err, kubegate.ErrNotManaged)

			for what, write := range map[string]func() error{
				"Reset":   func() error { return g.Reset(ctx) },
				"Approve": func() error { return g.Approve(ctx, canary.HookConfirmRollout) },
				"Halt":    func() error { return g.Halt(ctx, canary.HookConfirmPromotion) },
			} {
				err := write()
				require.ErrorIs(t, err, kubegate.ErrNotManaged, what)
				assert.ErrorContains(t, err, "configmap test/podinfo-canarykit-gates", what)
			}
			for _, a := range cs.Actions() {
				assert.Equal(t, "get", a.GetVerb(), "only read")
			}
			cm, err := cs.CoreV1().ConfigMaps("test").Get(ctx, "podinfo-canarykit-gates", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, data, cm.Data)
			assert.Equal(t, labels, cm.Labels)
		})
	}
}
