package kubegate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/webhook/kubegate"
)

// The tests in this file run against a real kube-apiserver (internal/testenv): they skip when
// its binaries are missing, and fail instead with CI=true.

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }

// user is an identity of its own with the given rules in ns, and its Gates for target.
func user(t *testing.T, env *testenv.Env, target canary.Target, rules ...rbacv1.PolicyRule) (string, *kubegate.Gates) {
	t.Helper()
	name, cfg := env.NewUser(t)
	if len(rules) > 0 {
		env.Grant(t, name, target.Namespace, rules...)
	}
	return name, gatesFor(t, cfg, target)
}

// gatesFor builds Gates on a fresh clientset: a new process, as far as the cluster can tell.
func gatesFor(t *testing.T, cfg *rest.Config, target canary.Target) *kubegate.Gates {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	g, err := kubegate.New(kubegate.Config{Client: cs.CoreV1(), Target: target})
	require.NoError(t, err)
	return g
}

// A release waits for promotion approval; its process stops; an operator approves with the
// documented RBAC only; a new process (new client, new Gates, new Rollout over the saved
// status) resumes and promotes; the approval ends with the release.
func TestIntegrationApprovalSurvivesARestart(t *testing.T) {
	env := testenv.Shared(t)
	target := canary.Target{Namespace: env.Namespace(t), Name: "podinfo"}
	ctx := context.Background()

	sim := canarytest.NewEnv(target) // workload, router, metrics and status store in memory
	sim.Metrics.Set("request-success-rate", canarytest.Constant(100))
	spec := canary.Spec{Interval: time.Minute, StepWeight: 25, MaxWeight: 50,
		Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}}}
	newRollout := func(g *kubegate.Gates, stop func()) *canary.Rollout {
		hooks, err := g.Hooks(canary.HookConfirmPromotion, canary.HookRollback)
		require.NoError(t, err)
		cfg := sim.Config(spec)
		cfg.Gates = hooks
		sim.Events.Then = func(e canary.Event) {
			if e.Reason == canary.ReasonWaiting && stop != nil {
				stop() // the process goes away while the release waits
			}
		}
		r, err := canary.New(cfg)
		require.NoError(t, err)
		return r
	}

	_, g1 := user(t, env, target, kubegate.Rules()...)
	first, stop := context.WithCancel(ctx)
	r := newRollout(g1, stop)
	_, err := r.Run(first)
	require.NoError(t, err)
	sim.Workload.SetRevision("v1")
	res, err := r.Run(first)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, canary.PhaseWaitingPromotion, res.Phase)

	_, operator := user(t, env, target, kubegate.Rules()...)
	require.NoError(t, operator.Approve(ctx, canary.HookConfirmPromotion))
	cm, err := env.Client().CoreV1().ConfigMaps(target.Namespace).Get(ctx, "podinfo-canarykit-gates", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"confirm-promotion": "open"}, cm.Data)
	assert.Equal(t, "canarykit", cm.Labels["app.kubernetes.io/managed-by"])

	_, g2 := user(t, env, target, kubegate.Rules()...)
	res, err = newRollout(g2, nil).Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, canary.PhaseSucceeded, res.Phase)
	assert.Equal(t, 1, sim.Workload.Calls.Count("Promote"))

	cm, err = env.Client().CoreV1().ConfigMaps(target.Namespace).Get(ctx, "podinfo-canarykit-gates", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"confirm-rollout": "closed", "confirm-traffic-increase": "closed",
		"confirm-promotion": "closed", "rollback": "closed"}, cm.Data, "the approval ended with the release")
}

// Writers racing on one ConfigMap lose no update: each owns one key and must find its own
// last value there at the end.
func TestIntegrationConcurrentWritersLoseNoUpdate(t *testing.T) {
	env := testenv.Shared(t)
	target := canary.Target{Namespace: env.Namespace(t), Name: "podinfo"}
	ctx := context.Background()
	types := []canary.HookType{canary.HookConfirmRollout, canary.HookConfirmTrafficIncrease, canary.HookConfirmPromotion}
	const rounds = 10

	users := map[string]bool{}
	writer := func() *kubegate.Gates {
		name, g := user(t, env, target, kubegate.Rules()...)
		users[name] = true
		return g
	}
	gates := []*kubegate.Gates{writer(), writer(), writer(), writer()}
	mark := env.AuditMark(t)

	var wg sync.WaitGroup
	errs := make(chan error, len(types)+1)
	for i, typ := range types {
		g := gates[i]
		wg.Go(func() {
			for i := range rounds {
				var err error
				if i%2 == 0 {
					err = g.Approve(ctx, typ)
				} else {
					err = g.Halt(ctx, typ)
				}
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", typ, i, err)
					return
				}
			}
			if typ == canary.HookConfirmPromotion {
				errs <- g.Approve(ctx, typ) // ends open; the others end closed
			}
		})
	}
	g := gates[3]
	wg.Go(func() {
		for range rounds {
			if err := g.RequestRollback(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	state, err := g.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[canary.HookType]bool{canary.HookConfirmRollout: false, canary.HookConfirmTrafficIncrease: false,
		canary.HookConfirmPromotion: true, canary.HookRollback: true}, state)
	conflicts := 0
	for _, e := range env.AuditSince(t, mark) {
		if users[e.User] && e.Code == 409 {
			conflicts++
		}
	}
	t.Logf("%d conflicting writes were re-read and retried", conflicts)
}

// Reading a gate costs one GET; an identity without update rights can read but not approve,
// and says why.
func TestIntegrationCostAndRBAC(t *testing.T) {
	env := testenv.Shared(t)
	target := canary.Target{Namespace: env.Namespace(t), Name: "podinfo"}
	ctx := context.Background()
	writer, gw := user(t, env, target, kubegate.Rules()...)
	require.NoError(t, gw.Approve(ctx, canary.HookConfirmRollout))

	reader, gr := user(t, env, target, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}})
	mark := env.AuditMark(t)
	const asks = 5
	for range asks {
		ok, err := gr.Allow(ctx, canary.GateRequest{Hook: canary.Webhook{Name: "manual", Type: canary.HookConfirmRollout}, Target: target})
		require.NoError(t, err)
		assert.True(t, ok)
	}
	err := gr.Halt(ctx, canary.HookConfirmRollout)
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), err.Error())
	assert.Contains(t, err.Error(), "write gates of "+target.String()+" to configmap podinfo-canarykit-gates")

	counts := env.AuditSince(t, mark).ForUser(reader).Counts()
	assert.Equal(t, testenv.AuditCounts{
		{User: reader, Verb: "get", Resource: "configmaps"}:    asks + 1, // the asks, and Halt's read
		{User: reader, Verb: "update", Resource: "configmaps"}: 1,        // refused
	}, counts, counts.String())
	t.Logf("%d Allow calls cost %d GETs", asks, counts[testenv.AuditKey{User: reader, Verb: "get", Resource: "configmaps"}]-1)

	mark = env.AuditMark(t)
	require.NoError(t, gw.Approve(ctx, canary.HookConfirmPromotion))
	require.NoError(t, gw.Approve(ctx, canary.HookConfirmPromotion)) // already open: no write
	counts = env.AuditSince(t, mark).ForUser(writer).Counts()
	assert.Equal(t, testenv.AuditCounts{
		{User: writer, Verb: "get", Resource: "configmaps"}:    2,
		{User: writer, Verb: "update", Resource: "configmaps"}: 1,
	}, counts, counts.String())
}
