package driver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// canaryYAML is a Flagger Canary as a user applies it: podinfo's Deployment, three steps of
// 20% up to 60%, and a rollback hook at the loadtester.
func canaryYAML(ns, interval, loadtester string) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: %s
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  progressDeadlineSeconds: 60
  service:
    port: 9898
  analysis:
    interval: %s
    threshold: 1
    maxWeight: 60
    stepWeight: 20
    webhooks:
      - name: rollback-on-request
        type: rollback
        url: %s/rollback/check
        timeout: 5s
`, ns, interval, loadtester)
}

// applyCanary creates the Canary object from manifest, as `kubectl apply` does, and returns it
// loaded by kube/flagger.
func applyCanary(ctx context.Context, t *testing.T, env *testenv.Env, manifest string) *flagger.Canary {
	t.Helper()
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(manifest), &obj))
	u := &unstructured.Unstructured{Object: obj}
	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	_, err = admin.Resource(CanaryGVR).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
	require.NoError(t, err)
	c, err := flagger.LoadCanary([]byte(manifest))
	require.NoError(t, err)
	return c
}

// driverUser is an identity bound in ns to exactly what the driver is documented to need for
// an SMI target with its status on the Canary: kube.RBAC(), kube.FlaggerRBAC() and the
// TrafficSplit router's rules.
func driverUser(t *testing.T, env *testenv.Env, ns string) (string, *rest.Config) {
	t.Helper()
	var rules []rbacv1.PolicyRule
	for _, doc := range [][]byte{kube.RBAC(), kube.FlaggerRBAC()} {
		var role rbacv1.ClusterRole
		require.NoError(t, yaml.Unmarshal(doc, &role))
		rules = append(rules, role.Rules...)
	}
	rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"split.smi-spec.io"}, Resources: []string{"trafficsplits"},
		Verbs: []string{"get", "create", "update", "patch"}})
	user, cfg := env.NewUser(t)
	env.Grant(t, user, ns, rules...)
	return user, cfg
}

// getCanary reads the Canary object as an administrator.
func getCanary(ctx context.Context, t *testing.T, env *testenv.Env, ns string) *unstructured.Unstructured {
	t.Helper()
	admin, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	obj, err := admin.Resource(CanaryGVR).Namespace(ns).Get(ctx, "podinfo", metav1.GetOptions{})
	require.NoError(t, err)
	return obj
}

// promotedOf returns the Promoted condition of a Canary object (zero when absent).
func promotedOf(obj *unstructured.Unstructured) flaggerCondition {
	return conditionOf(obj, ConditionPromoted)
}

// conditionOf is obj's condition of type typ; the zero condition when it has none.
func conditionOf(obj *unstructured.Unstructured, typ string) flaggerCondition {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			s := func(k string) string { v, _ := m[k].(string); return v }
			return flaggerCondition{Type: typ, Status: s("status"), Reason: s("reason"), Message: s("message"),
				LastUpdateTime: s("lastUpdateTime"), LastTransitionTime: s("lastTransitionTime")}
		}
	}
	return flaggerCondition{}
}

// kstatusOf is the status kstatus computes for obj, as Flux's health checks do.
func kstatusOf(t *testing.T, obj *unstructured.Unstructured) status.Status {
	t.Helper()
	res, err := status.Compute(obj)
	require.NoError(t, err)
	return res.Status
}

// canaryRow requests the Canaries of ns in the Table form `kubectl get canaries` asks for and
// returns the podinfo row, cell by column name (the cells as JSON values printed with %v).
func canaryRow(ctx context.Context, t *testing.T, cfg *rest.Config, ns string) map[string]string {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		cfg.Host+"/apis/flagger.app/v1beta1/namespaces/"+ns+"/canaries", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var table metav1.Table
	require.NoError(t, json.Unmarshal(body, &table))
	require.Equal(t, "Table", table.Kind, "the server answered with a Table")
	for _, row := range table.Rows {
		if len(row.Cells) == 0 || fmt.Sprint(row.Cells[0]) != "podinfo" {
			continue
		}
		out := map[string]string{}
		for i, col := range table.ColumnDefinitions {
			if i < len(row.Cells) {
				v := row.Cells[i]
				if v == nil {
					v = ""
				}
				out[col.Name] = fmt.Sprint(v)
			}
		}
		return out
	}
	t.Fatalf("no podinfo row in %s", body)
	return nil
}

// promotedWaiter waits for condition=Promoted as `kubectl wait` does: it reads the object, then
// watches it from that version, and returns when .status.conditions[type=Promoted].status is
// True. Every version it judged is reported on seen (phase and resourceVersion).
type promotedWaiter struct {
	seen chan judged
	done chan *unstructured.Unstructured // the object that met the condition
	errs chan error
}

type judged struct {
	phase, resourceVersion string
}

func waitPromoted(ctx context.Context, cfg *rest.Config, ns string) *promotedWaiter {
	w := &promotedWaiter{seen: make(chan judged, 1000), done: make(chan *unstructured.Unstructured, 1), errs: make(chan error, 1)}
	go func() {
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			w.errs <- err
			return
		}
		res := dyn.Resource(CanaryGVR).Namespace(ns)
		met := func(obj *unstructured.Unstructured) bool {
			phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
			w.seen <- judged{phase: phase, resourceVersion: obj.GetResourceVersion()}
			return promotedOf(obj).Status == "True"
		}
		obj, err := res.Get(ctx, "podinfo", metav1.GetOptions{})
		if err != nil {
			w.errs <- err
			return
		}
		if met(obj) {
			w.done <- obj
			return
		}
		watcher, err := res.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=podinfo", ResourceVersion: obj.GetResourceVersion()})
		if err != nil {
			w.errs <- err
			return
		}
		defer watcher.Stop()
		for ev := range watcher.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok && met(u) {
				w.done <- u
				return
			}
		}
		w.errs <- ctx.Err()
	}()
	return w
}

// countingStore counts the saves a Rollout makes.
type countingStore struct {
	canary.StatusStore
	mu    sync.Mutex
	saves []canary.Status
}

func (s *countingStore) Save(ctx context.Context, t canary.Target, st canary.Status) (canary.Status, error) {
	out, err := s.StatusStore.Save(ctx, t, st)
	if err == nil {
		s.mu.Lock()
		s.saves = append(s.saves, out)
		s.mu.Unlock()
	}
	return out, err
}

func (s *countingStore) saved() []canary.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]canary.Status(nil), s.saves...)
}

// countedRelease builds c's release as Driver.Release does, with its store counted.
func countedRelease(ctx context.Context, t *testing.T, d *Driver, c *flagger.Canary) (*Release, *countingStore) {
	t.Helper()
	router, workload, lease, err := d.adapters(c, false)
	require.NoError(t, err)
	store := &countingStore{StatusStore: d.store(c, workload, lease)}
	_, ok := store.StatusStore.(*CanaryStore)
	require.True(t, ok, "Options.CanaryStatus keeps the status on the Canary")
	rel, err := d.build(ctx, c, router, workload, lease, store, nil)
	require.NoError(t, err)
	return rel, store
}

// runAsync runs rel and reports its outcome on the returned channel.
func runAsync(ctx context.Context, rel *Release) <-chan runResult {
	out := make(chan runResult, 1)
	go func() {
		res, err := rel.Run(ctx)
		out <- runResult{res, err}
	}()
	return out
}

type runResult struct {
	res canary.Result
	err error
}

// pollCanary polls the Canary object until cond holds.
func pollCanary(ctx context.Context, t *testing.T, env *testenv.Env, ns, what string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		last = getCanary(ctx, t, env, ns)
		return cond(last), nil
	})
	require.NoError(t, err, "%s; last status: %v", what, last.Object["status"])
	return last
}

func phaseOf(obj *unstructured.Unstructured) string {
	p, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	return p
}

func weightOf(obj *unstructured.Unstructured) int64 {
	v, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "status", "canaryWeight")
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return -1
}
