package example

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/kube/kubetest"
	"github.com/canarykit/canarykit/mesh"
	"github.com/go-logr/logr/testr"
	specsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	splitclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var (
	cfg *rest.Config
	// controllers says whether the cluster runs kube-controller-manager (an existing cluster)
	// or not (envtest's own etcd and kube-apiserver).
	controllers bool
)

func TestMain(m *testing.M) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	controllers = strings.EqualFold(os.Getenv("USE_EXISTING_CLUSTER"), "true")
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start envtest (KUBEBUILDER_ASSETS names the directory of etcd and kube-apiserver):", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}

// cluster is one test's namespace with the podinfo Deployment at version 1.
type cluster struct {
	client kubernetes.Interface
	ns     string
}

// newCluster creates a namespace and the target, pods of version 1 ready at once and pods of
// version 2 behaving as v2 says. Where no kube-controller-manager runs, the kit's deployment
// controller stand-in creates the pods and writes the Deployments' status.
func newCluster(t *testing.T, v2 kubetest.Behavior) *cluster {
	t.Helper()
	ctx := t.Context()
	client := kubernetes.NewForConfigOrDie(cfg)
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "release-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !controllers {
		kubetest.RunDeployments(t, cfg, ns.Name)
	}
	kubetest.RunKubelet(t, cfg, ns.Name, "version=1", kubetest.ReadyNow())
	kubetest.RunKubelet(t, cfg, ns.Name, "version=2", v2)

	labels := map[string]string{"app": "podinfo"}
	_, err = client.AppsV1().Deployments(ns.Name).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(2)), ProgressDeadlineSeconds: ptr.To(int32(5)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "podinfo", "version": "1"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfo", Image: "podinfo:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{client: client, ns: ns.Name}
}

// release runs the Canary of testdata/canary.yaml twice: once to initialize (primary, services,
// TrafficSplit), then, after version 2 is deployed, the release of version 2. successRate
// answers the Canary's metric from the canary's weight.
func (c *cluster) release(t *testing.T, successRate func(canaryWeight int) float64) canary.Result {
	t.Helper()
	ctx := t.Context()
	manifest, err := os.ReadFile(filepath.Join("testdata", "canary.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cn, err := flagger.LoadCanary(manifest)
	if err != nil {
		t.Fatal(err)
	}
	cn.Namespace, cn.Target.Namespace = c.ns, c.ns

	router := smiRouter(t)
	metrics := &kubetest.WeightMetrics{Router: router, Target: cn.Target,
		Value: func(_ string, w canary.Weights) (float64, error) { return successRate(w.Canary), nil }}
	d, err := driver.New(driver.Options{Config: cfg, Router: router, Metrics: metrics, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	run := func() canary.Result {
		var mu sync.Mutex
		rel, err := d.Release(ctx, cn, func(e canary.Event) {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("event %s: %s", e.Reason, e.Message)
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := rel.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run(); res.Phase != canary.PhaseInitialized {
		t.Fatalf("first run: phase %s (%s), want Initialized", res.Phase, res.Reason)
	}
	c.deploy(t, "2")
	return run()
}

// deploy rolls the target out at version v.
func (c *cluster) deploy(t *testing.T, v string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.client.AppsV1().Deployments(c.ns).Get(t.Context(), "podinfo", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Labels["version"] = v
		d.Spec.Template.Spec.Containers[0].Image = "podinfo:" + v
		_, err = c.client.AppsV1().Deployments(c.ns).Update(t.Context(), d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// primaryImage is the image the primary runs.
func (c *cluster) primaryImage(t *testing.T) string {
	t.Helper()
	d, err := c.client.AppsV1().Deployments(c.ns).Get(t.Context(), "podinfo-primary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// smiRouter is the router the Canary's provider (linkerd) chooses, shared with WeightMetrics.
func smiRouter(t *testing.T) canary.MeshRouter {
	t.Helper()
	split, err := splitclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := specsclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := mesh.NewTrafficSplit(mesh.TrafficSplitOptions{Client: split, Specs: specs,
		Discovery: kubernetes.NewForConfigOrDie(cfg).Discovery()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHealthyCanaryIsPromoted(t *testing.T) {
	c := newCluster(t, kubetest.ReadyNow())
	res := c.release(t, func(int) float64 { return 99.9 })
	if res.Phase != canary.PhaseSucceeded || res.Cause != canary.CausePromoted {
		t.Fatalf("phase %s, cause %s (%s); want Succeeded, promoted", res.Phase, res.Cause, res.Reason)
	}
	if got := fmt.Sprint(res.Weights); got != "[25 50 0]" {
		t.Errorf("canary weights %s, want [25 50 0]", got)
	}
	if img := c.primaryImage(t); img != "podinfo:2" {
		t.Errorf("primary runs %s after the promotion, want podinfo:2", img)
	}
}

func TestCanaryFailingAtHalfTheTrafficIsRolledBack(t *testing.T) {
	c := newCluster(t, kubetest.ReadyNow())
	res := c.release(t, func(w int) float64 {
		if w >= 50 {
			return 90
		}
		return 99.9
	})
	if res.Phase != canary.PhaseFailed || res.Cause != canary.CauseThreshold {
		t.Fatalf("phase %s, cause %s (%s); want Failed, threshold", res.Phase, res.Cause, res.Reason)
	}
	if got := fmt.Sprint(res.Weights); got != "[25 50 0]" {
		t.Errorf("canary weights %s, want [25 50 0]", got)
	}
	if img := c.primaryImage(t); img != "podinfo:1" {
		t.Errorf("primary runs %s after the rollback, want podinfo:1", img)
	}
}

func TestCanaryNeverReadyIsRolledBackWithoutTraffic(t *testing.T) {
	c := newCluster(t, kubetest.NeverReady())
	res := c.release(t, func(int) float64 { return 99.9 })
	if res.Phase != canary.PhaseFailed || res.Cause != canary.CauseProgressDeadline {
		t.Fatalf("phase %s, cause %s (%s); want Failed, deadline", res.Phase, res.Cause, res.Reason)
	}
	for _, w := range res.Weights {
		if w != 0 {
			t.Errorf("the canary got %d %% of the traffic while not ready (weights %v)", w, res.Weights)
		}
	}
	if img := c.primaryImage(t); img != "podinfo:1" {
		t.Errorf("primary runs %s after the rollback, want podinfo:1", img)
	}
}
