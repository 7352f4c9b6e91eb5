package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/progress"
	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/webhook/loadgen"
	"github.com/canarykit/canarykit/webhook/webhooktest"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

// timeScale compresses a manifest's times for the default run: analysis intervals by 15
// (30s → 2s), metric windows likewise but never under 4s (Prometheus scrapes every second and
// rate() needs samples in its window). Run with -e2e.realtime to keep the manifest's times.
const timeScale = 15

func compress(t *testing.T, s *canary.Spec) {
	if realtime {
		return
	}
	s.Interval /= timeScale
	for i := range s.Metrics {
		s.Metrics[i].Interval = max(s.Metrics[i].Interval/timeScale, 4*time.Second)
	}
	t.Logf("times compressed %d×: interval %s, metric windows %v", timeScale, s.Interval, windows(s))
}

func windows(s *canary.Spec) []string {
	var out []string
	for _, m := range s.Metrics {
		out = append(out, m.Name+"="+canary.PromDuration(m.Interval))
	}
	return out
}

// world is a namespace of the test bed with the seeds' podinfo (Deployment and HPA), a
// simulated Linkerd data plane in front of it, Prometheus scraping the data plane's metrics,
// and flagger-loadtester's stand-in.
type world struct {
	t      *testing.T
	env    *testenv.Env
	ns     string
	mesh   *meshsim.Mesh
	prom   *testenv.Prometheus
	lt     *webhooktest.LoadTester
	router flagger.RouterKind // for Canaries without spec.provider
}

func newWorld(t *testing.T, router flagger.RouterKind, versions map[string]meshsim.Behavior, crds ...*apiextensionsv1.CustomResourceDefinition) *world {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD()) // as linkerd-smi ships it
	testenv.InstallCRDs(t, env.Config(), testenv.GatewayAPICRDs(t)...)
	if len(crds) > 0 { // before the mesh starts, so that it watches their objects
		testenv.InstallCRDs(t, env.Config(), crds...)
	}
	ns := env.Namespace(t)
	env.Kubelet(t, ns, "", testenv.ReadyNow())
	prom, exp := testenv.SharedPrometheus(t)
	m := meshsim.Start(t, meshsim.Options{Config: env.Config(), Namespace: ns, Aliases: []string{"test"}, Exporter: exp, Versions: versions})
	lt := &webhooktest.LoadTester{}
	require.NoError(t, m.ServeLoadTester("flagger-loadtester", lt))
	return &world{t: t, env: env, ns: ns, mesh: m, prom: prom, lt: lt, router: router}
}

// createApp creates what the seeds' kustomize/podinfo creates: the Deployment and its HPA.
func (w *world) createApp(name, image string) {
	require.NoError(w.t, testenv.CreatePodinfo(context.Background(), w.env.Client(), w.ns, name, image, 2))
}

func (w *world) setImage(name, image string) {
	ctx := context.Background()
	require.NoError(w.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := w.env.Client().AppsV1().Deployments(w.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = w.env.Client().AppsV1().Deployments(w.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
}

func (w *world) image(name string) string {
	d, err := w.env.Client().AppsV1().Deployments(w.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(w.t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

// manifest loads a seed manifest unchanged, places it in the world's namespace (as
// `kubectl apply -n` would) and compresses its times.
func (w *world) manifest(file string) *flagger.Canary {
	data, err := os.ReadFile(filepath.Join("..", "..", "kube", "flagger", "testdata", file))
	require.NoError(w.t, err)
	// as `kubectl apply -n` does: the object's namespace is set before anything defaults to it
	var obj map[string]any
	require.NoError(w.t, yaml.Unmarshal(data, &obj))
	obj["metadata"].(map[string]any)["namespace"] = w.ns
	data, err = yaml.Marshal(obj)
	require.NoError(w.t, err)
	m, err := flagger.LoadCanary(data)
	require.NoError(w.t, err)
	compress(w.t, &m.Spec)
	return m
}

// installTemplates creates a file's Flagger MetricTemplates in the cluster (in their own
// namespaces, created if missing), pointed at the test bed's Prometheus, with the Secrets their
// secretRefs name (a bearer token).
func (w *world) installTemplates(file string) {
	testenv.InstallCRDs(w.t, w.env.Config(), testenv.MetricTemplateCRD())
	data, err := os.ReadFile(filepath.Join("..", "..", "kube", "flagger", "testdata", file))
	require.NoError(w.t, err)
	rs, err := flagger.LoadObjects(data)
	require.NoError(w.t, err)
	templates := rs.MetricTemplates
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(w.env.Config())
	require.NoError(w.t, err)
	for _, tpl := range templates {
		_, err := w.env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tpl.Namespace}}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(w.t, err)
		}
		provider := map[string]any{"type": tpl.Provider.Type, "address": w.prom.URL}
		if tpl.Provider.SecretRef != "" {
			provider["secretRef"] = map[string]any{"name": tpl.Provider.SecretRef}
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tpl.Provider.SecretRef}, Data: map[string][]byte{"token": []byte("e2e")}}
			_, err := w.env.Client().CoreV1().Secrets(tpl.Namespace).Create(ctx, secret, metav1.CreateOptions{})
			if !apierrors.IsAlreadyExists(err) {
				require.NoError(w.t, err)
			}
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
			"metadata": map[string]any{"name": tpl.Name, "namespace": tpl.Namespace},
			"spec":     map[string]any{"query": tpl.Query, "provider": provider},
		}}
		res := dyn.Resource(driver.MetricTemplates()).Namespace(tpl.Namespace)
		if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			cur, err := res.Get(ctx, tpl.Name, metav1.GetOptions{})
			require.NoError(w.t, err)
			obj.SetResourceVersion(cur.GetResourceVersion())
			_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
			require.NoError(w.t, err)
		} else {
			require.NoError(w.t, err)
		}
	}
}

// timeline records a release's events with their real times.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	events []stamped
	then   func(canary.Event)
	t      *testing.T
	// splitWarnings are expected: without it a TrafficNotSplit event fails the test (no
	// release whose traffic follows its route may trigger the split check)
	splitWarnings bool
}

type stamped struct {
	at time.Time
	e  canary.Event
}

func (tl *timeline) handle(e canary.Event) {
	tl.mu.Lock()
	if tl.start.IsZero() {
		tl.start = time.Now()
	}
	tl.events = append(tl.events, stamped{time.Now(), e})
	tl.mu.Unlock()
	tl.t.Log(progress.Line(time.Since(tl.start), e))
	if e.Reason == canary.ReasonTrafficNotSplit && !tl.splitWarnings {
		tl.t.Errorf("unexpected split warning: %s", e.Message)
	}
	if tl.then != nil {
		tl.then(e)
	}
}

func (tl *timeline) messages() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for _, s := range tl.events {
		out = append(out, s.e.Message)
	}
	return out
}

// steps reports the time between consecutive weight steps.
func (tl *timeline) steps() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var b strings.Builder
	var prev time.Time
	for _, s := range tl.events {
		if s.e.Reason != canary.ReasonAdvanced && s.e.Reason != canary.ReasonShifted && s.e.Reason != canary.ReasonSucceeded && s.e.Reason != canary.ReasonFailed {
			continue
		}
		gap := time.Duration(0)
		if !prev.IsZero() {
			gap = s.at.Sub(prev)
		}
		prev = s.at
		fmt.Fprintf(&b, "  +%-6s %s\n", gap.Round(10*time.Millisecond), s.e.Message)
	}
	return b.String()
}

// drive runs one release of m as one driver process (its own Driver), until it ends or ctx ends.
func (w *world) drive(ctx context.Context, m *flagger.Canary, identity string, tl *timeline) (canary.Result, error) {
	d := w.driver(identity)
	defer d.Close()
	rel, err := d.Release(ctx, m, tl.handle)
	require.NoError(w.t, err)
	return rel.Run(ctx)
}

// driver is a Driver on the world: its Prometheus, its mesh's webhooks (the load tester).
func (w *world) driver(identity string) *driver.Driver {
	d, err := driver.New(driver.Options{Config: w.env.Config(), DefaultRouter: flagger.Router{Kind: w.router}, Prometheus: w.prom.URL,
		Identity: identity, HookTransport: w.mesh, WaitForLease: true})
	require.NoError(w.t, err)
	return d
}

// load drives apex traffic through the mesh until the test ends.
func (w *world) load(cfg loadgen.Config) *meshsim.Load {
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Minute
	}
	l, err := w.mesh.StartLoad(cfg)
	require.NoError(w.t, err)
	w.t.Cleanup(func() { l.Stop() })
	return l
}
