package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }

// bed is a namespace of the test bed with Flagger's own CRDs and the SMI TrafficSplit CRD.
// Controllers run as an identity bound in the namespace to exactly the ClusterRole of
// rbac.yaml.
type bed struct {
	t          *testing.T
	env        *testenv.Env
	ns         string
	dyn        dynamic.Interface // the test's own (admin)
	controller *rest.Config      // the controllers'
}

func newBed(t *testing.T) *bed {
	env := testenv.Shared(t)
	testenv.InstallCRDs(t, env.Config(), append(testenv.FlaggerCRDs(t), testenv.TrafficSplitCRD())...)
	dyn, err := dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	b := &bed{t: t, env: env, ns: env.Namespace(t), dyn: dyn}
	user, cfg := env.NewUser(t)
	env.Grant(t, user, b.ns, controllerRules(t)...)
	b.controller = cfg
	return b
}

// controllerRules are the rules of rbac.yaml's ClusterRole.
func controllerRules(t *testing.T) []rbacv1.PolicyRule {
	data, err := os.ReadFile("rbac.yaml")
	require.NoError(t, err)
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var role rbacv1.ClusterRole
		require.NoError(t, yaml.Unmarshal([]byte(doc), &role))
		if role.Kind == "ClusterRole" {
			require.NotEmpty(t, role.Rules)
			return role.Rules
		}
	}
	t.Fatal("rbac.yaml has no ClusterRole")
	return nil
}

// replica is one controller process of a test: its own clients (user agent "<identity>"),
// stopped by Stop (a clean exit: its leases released) or Crash (its connections cut first, so
// nothing is released: a dead process).
type replica struct {
	id      string
	cancel  context.CancelFunc
	done    chan error
	cut     atomic.Bool
	stopped sync.Once
}

var errCrashed = errors.New("replica crashed")

// cutTransport fails every request once the replica has crashed.
type cutTransport struct {
	r    *replica
	next http.RoundTripper
}

func (c cutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.r.cut.Load() {
		return nil, errCrashed
	}
	return c.next.RoundTrip(req)
}

// start runs a controller replica on the bed's namespace; o's Config, Namespace, Identity
// and Logger are filled in.
func (b *bed) start(id string, o Options) *replica {
	r := &replica{id: id, done: make(chan error, 1)}
	cfg := rest.CopyConfig(b.controller)
	cfg.UserAgent = id
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return cutTransport{r: r, next: rt} })
	o.Config, o.Namespace, o.Identity = cfg, b.ns, id
	if o.Logger.GetSink() == nil {
		o.Logger = testr.NewWithOptions(b.t, testr.Options{Verbosity: 0}).WithName(id)
	}
	if o.Recheck == 0 {
		o.Recheck = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- Run(ctx, o) }()
	b.t.Cleanup(func() { r.Stop(b.t) })
	return r
}

// Stop ends the replica as a clean exit does and waits for it.
func (r *replica) Stop(t *testing.T) {
	r.stopped.Do(func() {
		r.cancel()
		require.NoError(t, <-r.done)
	})
}

// Crash cuts the replica's connections and then stops it: its leases stay held until they
// expire, as a killed process leaves them.
func (r *replica) Crash(t *testing.T) {
	r.cut.Store(true)
	r.Stop(t)
}

// app creates a Deployment "name" (label app=name, one replica, image name:1, port 8080).
func (b *bed) app(name string) {
	labels := map[string]string{"app": name}
	_, err := b.env.Client().AppsV1().Deployments(b.ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: name + ":1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}},
	}, metav1.CreateOptions{})
	require.NoError(b.t, err)
}

func (b *bed) setImage(name, image string) {
	require.NoError(b.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := b.env.Client().AppsV1().Deployments(b.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = b.env.Client().AppsV1().Deployments(b.ns).Update(context.Background(), d, metav1.UpdateOptions{})
		return err
	}))
}

// image is a Deployment's image, "" when it does not exist.
func (b *bed) image(name string) string {
	d, err := b.env.Client().AppsV1().Deployments(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func (b *bed) replicas(name string) int32 {
	d, err := b.env.Client().AppsV1().Deployments(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(b.t, err)
	return ptr.Deref(d.Spec.Replicas, 1)
}

// canaryYAML is a Canary for the Deployment name with an analysis of 1 s steps and no metrics.
func canaryYAML(name, analysis string) string {
	return `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: ` + name + `}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: ` + name + `}
  service: {port: 8080}
  analysis:
` + analysis
}

// apply creates or updates a Canary from YAML, in the bed's namespace.
func (b *bed) apply(manifest string) {
	var obj map[string]any
	require.NoError(b.t, yaml.Unmarshal([]byte(manifest), &obj))
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(b.ns)
	res := b.dyn.Resource(Canaries).Namespace(b.ns)
	require.NoError(b.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := res.Get(context.Background(), u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = res.Create(context.Background(), u, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		cur.Object["spec"] = u.Object["spec"]
		_, err = res.Update(context.Background(), cur, metav1.UpdateOptions{})
		return err
	}))
}

// seed reads a seed Canary from kube/flagger/testdata.
func seed(t *testing.T, file string) string {
	data, err := os.ReadFile(filepath.Join("..", "..", "kube", "flagger", "testdata", file))
	require.NoError(t, err)
	return string(data)
}

// canaryStatus is the status of Canary name as the API server has it (Flagger's fields).
type canaryStatus struct {
	Phase        canary.Phase `json:"phase"`
	CanaryWeight int          `json:"canaryWeight"`
	FailedChecks int          `json:"failedChecks"`
	Conditions   []struct {
		Type    string `json:"type"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"conditions"`
}

// promoted is the Promoted condition's status and reason ("" when absent).
func (s canaryStatus) promoted() (status, reason string) {
	for _, c := range s.Conditions {
		if c.Type == "Promoted" {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

func (b *bed) status(name string) canaryStatus {
	u, err := b.dyn.Resource(Canaries).Namespace(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return canaryStatus{}
	}
	var st canaryStatus
	raw, err := json.Marshal(u.Object["status"])
	require.NoError(b.t, err)
	require.NoError(b.t, json.Unmarshal(raw, &st))
	return st
}

// holder is who holds a target's Lease ("" when free or absent).
func (b *bed) holder(name string) string {
	l, err := b.env.Client().CoordinationV1().Leases(b.ns).Get(context.Background(), name+"-canarykit", metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// poll waits for cond, failing the test after a generous limit (a guard against a hang, not
// a timing claim).
func (b *bed) poll(what string, cond func() bool) {
	b.t.Helper()
	require.NoError(b.t, wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 3*time.Minute, true,
		func(context.Context) (bool, error) { return cond(), nil }), what)
}

// compress shortens a seed's times for the test: 2 s analysis intervals, 4 s metric windows.
func compress(c *flagger.Canary) {
	c.Spec.Interval = 2 * time.Second
	for i := range c.Spec.Metrics {
		c.Spec.Metrics[i].Interval = 4 * time.Second
	}
}
