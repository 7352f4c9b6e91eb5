package meshsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv"
)

// bed is one test's namespace on a test bed, with a kubelet stand-in readying every pod and a
// mesh serving the namespace (with alias "test", the demo manifests' namespace).
type bed struct {
	env    *testenv.Env
	ns     string
	client kubernetes.Interface
	dyn    dynamic.Interface
	mesh   *meshsim.Mesh
}

// newBed prepares a namespace on env (testenv.Shared(t) when nil); install CRDs before.
func newBed(t testing.TB, env *testenv.Env, opts meshsim.Options) *bed {
	t.Helper()
	if env == nil {
		env = testenv.Shared(t)
	}
	b := &bed{env: env, ns: env.Namespace(t), client: env.Client()}
	env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	var err error
	b.dyn, err = dynamic.NewForConfig(env.Config())
	require.NoError(t, err)
	opts.Config, opts.Namespace, opts.Aliases = env.Config(), b.ns, []string{"test"}
	b.mesh = meshsim.Start(t, opts)
	return b
}

// deployment creates a Deployment name with pods labelled app=name running image.
func (b *bed) deployment(t testing.TB, name, image string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: image}}},
			},
		},
	}
	_, err := b.client.AppsV1().Deployments(b.ns).Create(context.Background(), d, metav1.CreateOptions{})
	require.NoError(t, err)
}

// setImage changes a Deployment's image (a new revision, or a promotion).
func (b *bed) setImage(t testing.TB, name, image string) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error { // the controller writes too
		d, err := b.client.AppsV1().Deployments(b.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = image
		_, err = b.client.AppsV1().Deployments(b.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	require.NoError(t, err)
}

// service creates a ClusterIP Service name on port 9898 selecting app=selects.
func (b *bed) service(t testing.TB, name, selects string) {
	t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": selects},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9898}},
		},
	}
	_, err := b.client.CoreV1().Services(b.ns).Create(context.Background(), s, metav1.CreateOptions{})
	require.NoError(t, err)
}

// flagger lays out what Flagger makes of a target podinfo: the canary podinfo and the
// primary podinfo-primary (2 pods each), the apex podinfo and podinfo-primary Services
// selecting the primary, podinfo-canary selecting the canary; and waits until the mesh sees
// every pod ready.
func (b *bed) flagger(t testing.TB, canaryImage, primaryImage string) {
	t.Helper()
	b.deployment(t, "podinfo", canaryImage, 2)
	b.deployment(t, "podinfo-primary", primaryImage, 2)
	b.service(t, "podinfo", "podinfo-primary")
	b.service(t, "podinfo-primary", "podinfo-primary")
	b.service(t, "podinfo-canary", "podinfo")
	b.waitEndpoints(t, "podinfo-canary", canaryImage, 2)
	b.waitEndpoints(t, "podinfo", primaryImage, 2)
}

// waitEndpoints waits until the mesh sees service with exactly n ready pods, all running image.
func (b *bed) waitEndpoints(t testing.TB, service, image string, n int) []meshsim.Endpoint {
	t.Helper()
	var eps []meshsim.Endpoint
	eventually(t, func() bool {
		var exists bool
		eps, exists = b.mesh.Endpoints(service)
		if !exists || len(eps) != n {
			return false
		}
		for _, ep := range eps {
			if ep.Image != image {
				return false
			}
		}
		return true
	}, "%d ready pods of %s running %s; have %v", n, service, image, &eps)
	return eps
}

// create creates a route object from YAML in the bed's namespace.
func (b *bed) create(t testing.TB, gvr schema.GroupVersionResource, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(j))
	out, err := b.dyn.Resource(gvr).Namespace(b.ns).Create(context.Background(), u, metav1.CreateOptions{})
	require.NoError(t, err)
	return out
}

// waitWeights waits until a plain request to service follows a route object with weights.
func (b *bed) waitWeights(t testing.TB, service string, want map[string]float64) meshsim.Route {
	t.Helper()
	var r meshsim.Route
	var got map[string]float64
	eventually(t, func() bool {
		r, got = b.mesh.Weights(service)
		return mapsEqual(got, want)
	}, "weights %v for %s; mesh has %v", want, service, &got)
	return r
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// get sends a request through the mesh and returns the status and the body.
func (b *bed) get(t testing.TB, url string, headers ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.mesh.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// podinfoAnswer decodes podinfo's GET / answer.
func podinfoAnswer(t testing.TB, body string) (hostname, version string) {
	t.Helper()
	var v struct{ Hostname, Version string }
	require.NoError(t, json.NewDecoder(strings.NewReader(body)).Decode(&v), body)
	return v.Hostname, v.Version
}

// eventually polls cond until it holds, failing the test after a minute (a bound for a busy
// machine, not a timing the test asserts). Pointers among args are dereferenced at failure.
func eventually(t testing.TB, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("gave up waiting for "+msg, args...)
		case <-tick.C:
		}
	}
}

// scale is a Scale subresource setting replicas.
func scale(ns, name string, replicas int32) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
}
