package driver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
)

// nginxRBAC is the rule the README adds to kube.RBAC() for provider nginx.
var nginxRBAC = rbacv1.PolicyRule{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"},
	Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}}

// nginxManifest is a Canary with provider nginx for podinfo behind Ingress podinfo-public.
func nginxManifest(ns, analysis string) []byte {
	return []byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: ` + ns + `}
spec:
  provider: nginx
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  ingressRef: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: podinfo-public}
  service: {port: 9898}
  analysis:
    interval: 1s
    threshold: 1` + analysis)
}

// hookAnswers answers every webhook: 500 for the URL path /fail, 200 otherwise.
type hookAnswers struct{}

func (hookAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	code := http.StatusOK
	if r.URL.Path == "/fail" {
		code = http.StatusInternalServerError
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("")), Request: r, Header: http.Header{}}, nil
}

// ingressPrefix is the annotation prefix of the ingress-nginx the releases below are for (one
// started with --annotations-prefix=ingress.example.com), given to the driver.
const ingressPrefix = "ingress.example.com"

// annotationLog records the canary annotations (under ingressPrefix) of every version of one
// Ingress the API server stores, as "canary-weight=N" plus the A/B annotations present
// ("+by-header").
type annotationLog struct {
	mu       sync.Mutex
	versions []string
}

func (l *annotationLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.versions)
}

func recordIngress(t *testing.T, env *testenv.Env, ns, name string) *annotationLog {
	l := &annotationLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		from := ""
		for ctx.Err() == nil {
			w, err := env.Client().NetworkingV1().Ingresses(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: from})
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				ing, ok := ev.Object.(*networkingv1.Ingress)
				if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
					continue
				}
				from = ing.ResourceVersion
				a := ing.Annotations
				entry := "canary-weight=" + a[ingressPrefix+"/canary-weight"]
				for _, k := range []string{"canary-by-header", "canary-by-header-value", "canary-by-header-pattern", "canary-by-cookie"} {
					if v, ok := a[ingressPrefix+"/"+k]; ok {
						entry += fmt.Sprintf(" %s=%s", k, v)
					}
				}
				l.mu.Lock()
				if n := len(l.versions); n == 0 || l.versions[n-1] != entry {
					l.versions = append(l.versions, entry)
				}
				l.mu.Unlock()
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// Releases of a Canary with provider nginx on the real API server, under exactly kube.RBAC(),
// kube.RevertRBAC() (the revert at the end) and the Ingress rule the README documents: a
// weighted promotion, an A/B test by header and cookie, and a rollback, with the canary
// Ingress's annotations (under the driver's NGINXAnnotationPrefix) at each step and the
// user's Ingress never written.
func TestNGINXReleases(t *testing.T) {
	env := testenv.Shared(t)
	ctx, _, ns := bedNamespace(t, env)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	createPodinfo(ctx, t, env, ns)
	prefix := networkingv1.PathTypePrefix
	user, err := env.Client().NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo-public", Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "app.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "podinfo", Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	name, cfg := env.NewUser(t)
	env.Grant(t, name, ns, append(embeddedRules(t, kube.RBAC(), kube.RevertRBAC()), nginxRBAC)...)
	d, err := New(Options{Config: cfg, HookTransport: hookAnswers{}, NGINXAnnotationPrefix: ingressPrefix, Logger: testr.New(t)})
	require.NoError(t, err)
	defer d.Close()
	log := recordIngress(t, env, ns, "podinfo-public-canary")

	release := func(image, analysis string) canary.Result {
		t.Helper()
		if image != "" {
			setImage(ctx, t, env, ns, "podinfo", image)
		}
		c, err := flagger.LoadCanary(nginxManifest(ns, analysis))
		require.NoError(t, err)
		rel, err := d.Release(ctx, c, nil)
		require.NoError(t, err)
		res, err := rel.Run(ctx)
		require.NoError(t, err)
		return res
	}
	// seen waits until the log's last entry is want and returns the entries since from.
	seen := func(from int, want string) []string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := log.snapshot()
			if len(got) > from && got[len(got)-1] == want {
				return got[from:]
			}
			require.True(t, time.Now().Before(deadline), "the canary Ingress did not reach %q: %v", want, got)
			time.Sleep(20 * time.Millisecond)
		}
	}
	const atRest = "canary-weight=0"

	res := release("", "\n    maxWeight: 50\n    stepWeight: 25")
	assert.Equal(t, canary.PhaseInitialized, res.Phase)
	assert.Equal(t, []string{atRest}, seen(0, atRest), "created at 100% primary")

	t.Run("Weighted", func(t *testing.T) {
		from, mark := len(log.snapshot()), env.AuditMark(t)
		res := release("podinfo:2", "\n    maxWeight: 50\n    stepWeight: 25")
		assert.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
		assert.Equal(t, []int{25, 50, 0}, res.Weights)
		counts := env.AuditSince(t, mark).ForUser(name).Calls().Counts()
		t.Logf("requests of the weighted release:\n%s", counts)
		assert.Equal(t, 2, counts[testenv.AuditKey{User: name, Verb: "get", Resource: "ingresses"}], "the canary Ingress and the user's, read once")
		assert.Equal(t, len(res.Weights), counts[testenv.AuditKey{User: name, Verb: "patch", Resource: "ingresses"}], "one patch per weight")
		assert.Equal(t, []string{"canary-weight=25", "canary-weight=50", atRest}, seen(from, atRest))
	})
	t.Run("ABTesting", func(t *testing.T) {
		from := len(log.snapshot())
		res := release("podinfo:3", `
    iterations: 2
    match:
      - headers: {x-canary: {exact: insider}}
      - headers: {cookie: {exact: canary}}`)
		assert.Equal(t, canary.PhaseSucceeded, res.Phase, res.Reason)
		assert.Equal(t, []string{
			"canary-weight=0 canary-by-header=x-canary canary-by-header-value=insider canary-by-cookie=canary",
			atRest,
		}, seen(from, atRest))
	})
	t.Run("Rollback", func(t *testing.T) {
		from := len(log.snapshot())
		res := release("podinfo:4", `
    maxWeight: 50
    stepWeight: 10
    webhooks:
      - {name: load-test, type: rollout, url: "http://loadtester.test/fail"}`)
		assert.Equal(t, canary.PhaseFailed, res.Phase, res.Reason)
		assert.Equal(t, []string{"canary-weight=10", atRest}, seen(from, atRest))
	})

	after, err := env.Client().NetworkingV1().Ingresses(ns).Get(ctx, "podinfo-public", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, user.ResourceVersion, after.ResourceVersion, "the user's Ingress is never written")

	// The user adds a host to the Ingress after the release's first step: the canary Ingress
	// follows it at a later step, from the driver's watch of the namespace's Ingresses (Flagger
	// copies the Ingress on every tick); before, it followed at the next release only.
	t.Run("FollowsTheUsersIngress", func(t *testing.T) {
		from, mark := len(log.snapshot()), env.AuditMark(t)
		setImage(ctx, t, env, ns, "podinfo", "podinfo:5")
		c, err := flagger.LoadCanary(nginxManifest(ns, "\n    maxWeight: 50\n    stepWeight: 10"))
		require.NoError(t, err)
		rel, err := d.Release(ctx, c, nil)
		require.NoError(t, err)
		type outcome struct {
			res canary.Result
			err error
		}
		done := make(chan outcome, 1)
		go func() { res, err := rel.Run(ctx); done <- outcome{res, err} }()
		seen(from, "canary-weight=10")
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			ing, err := env.Client().NetworkingV1().Ingresses(ns).Get(ctx, "podinfo-public", metav1.GetOptions{})
			if err != nil {
				return err
			}
			rule := ing.Spec.Rules[0].DeepCopy()
			rule.Host = "new.example.com"
			ing.Spec.Rules = append(ing.Spec.Rules, *rule)
			ing.Labels = map[string]string{"tier": "edge"}
			_, err = env.Client().NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{})
			return err
		}))
		out := <-done
		require.NoError(t, out.err)
		assert.Equal(t, canary.PhaseSucceeded, out.res.Phase, out.res.Reason)
		assert.Equal(t, []int{10, 20, 30, 40, 50, 0}, out.res.Weights)
		got, err := env.Client().NetworkingV1().Ingresses(ns).Get(ctx, "podinfo-public-canary", metav1.GetOptions{})
		require.NoError(t, err)
		require.Len(t, got.Spec.Rules, 2)
		assert.Equal(t, "new.example.com", got.Spec.Rules[1].Host)
		assert.Equal(t, "podinfo-canary", got.Spec.Rules[1].HTTP.Paths[0].Backend.Service.Name, "the new host routes to the canary")
		assert.Equal(t, "edge", got.Labels["tier"])
		assert.Equal(t, atRest, log.snapshot()[len(log.snapshot())-1])
		counts := env.AuditSince(t, mark).ForUser(name).Calls().Counts()
		t.Logf("requests of the release:\n%s", counts)
		assert.Equal(t, 1, counts[testenv.AuditKey{User: name, Verb: "update", Resource: "ingresses"}], "reshaped once")
		assert.Equal(t, 4, counts[testenv.AuditKey{User: name, Verb: "get", Resource: "ingresses"}], "read at the start and at the reshape")
		assert.Equal(t, len(out.res.Weights)-1, counts[testenv.AuditKey{User: name, Verb: "patch", Resource: "ingresses"}], "every other step one patch")
		user, err = env.Client().NetworkingV1().Ingresses(ns).Get(ctx, "podinfo-public", metav1.GetOptions{})
		require.NoError(t, err)
	})

	// spec.revertOnDeletion: the canary Ingress goes, the user's stays as it is
	c, err := flagger.LoadCanary(nginxManifest(ns, "\n    maxWeight: 50\n    stepWeight: 25"))
	require.NoError(t, err)
	require.NoError(t, d.Retire(ctx, c, Retirement{Revert: true}))
	_, err = env.Client().NetworkingV1().Ingresses(ns).Get(ctx, "podinfo-public-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the canary Ingress is deleted: %v", err)
	after, err = env.Client().NetworkingV1().Ingresses(ns).Get(ctx, "podinfo-public", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, user.ResourceVersion, after.ResourceVersion, "the user's Ingress is kept as it is")
	_, err = env.Client().AppsV1().Deployments(ns).Get(ctx, "podinfo-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the primary is removed once the route is: %v", err)
}
