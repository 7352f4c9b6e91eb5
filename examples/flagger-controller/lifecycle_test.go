package main

import (
	"time"

	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
)

// recorder keeps the release events of every target, in order.
type recorder struct {
	mu     sync.Mutex
	events []canary.Event
}

func (r *recorder) add(e canary.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// mark is the position of the next event.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// since returns target's events from mark on.
func (r *recorder) since(target string, mark int) []canary.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []canary.Event
	for _, e := range r.events[mark:] {
		if e.Target.Name == target {
			out = append(out, e)
		}
	}
	return out
}

// has reports whether target had an event of reason from mark on.
func (r *recorder) has(target string, reason canary.Reason, mark int) bool {
	return slices.ContainsFunc(r.since(target, mark), func(e canary.Event) bool { return e.Reason == reason })
}

// weights lists the canary weights target advanced to from mark on.
func (r *recorder) weights(target string, mark int) []int {
	var out []int
	for _, e := range r.since(target, mark) {
		if e.Reason == canary.ReasonAdvanced && e.Weights.Canary > 0 {
			out = append(out, e.Weights.Canary)
		}
	}
	return out
}

// controllerBed is where each test here starts: a bed whose pods are Ready at once and one
// controller, controller-1, whose release events the recorder keeps.
func controllerBed(t *testing.T) (*bed, *recorder) {
	b := newBed(t)
	b.env.Kubelet(t, b.ns, "", testenv.ReadyNow())
	rec := &recorder{}
	b.start("controller-1", Options{OnEvent: rec.add})
	return b, rec
}

// trafficSplit returns the weights of the apex TrafficSplit of name, and whether it exists.
func (b *bed) trafficSplit(name string) (canary.Weights, bool) {
	return b.trafficSplitAt("v1alpha2", name)
}

// trafficSplitAt reads the TrafficSplit of name at an SMI version (v1alpha1 serves the weights
// as quantities, as Flagger stores them) and returns its weights, and whether it exists.
func (b *bed) trafficSplitAt(version, name string) (canary.Weights, bool) {
	u, err := b.dyn.Resource(schema.GroupVersionResource{Group: "split.smi-spec.io", Version: version, Resource: "trafficsplits"}).
		Namespace(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return canary.Weights{}, false
	}
	var w canary.Weights
	backends, _ := u.Object["spec"].(map[string]any)["backends"].([]any)
	for _, be := range backends {
		m := be.(map[string]any)
		var n int
		switch v := m["weight"].(type) {
		case int64:
			n = int(v)
		case float64:
			n = int(v)
		case string:
			q, err := resource.ParseQuantity(v)
			require.NoError(b.t, err)
			n = int(q.Value())
		}
		switch m["service"] {
		case name + "-primary":
			w.Primary = n
		case name + "-canary":
			w.Canary = n
		}
	}
	return w, true
}

func (b *bed) serviceExists(name string) bool {
	_, err := b.env.Client().CoreV1().Services(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

// warnings lists the messages of the Warning Events on Canary name.
func (b *bed) warnings(name string) []string {
	list, err := b.env.Client().CoreV1().Events(b.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": "Canary", "involvedObject.name": name, "type": corev1.EventTypeWarning,
			"reason": driver.CanaryEventReason}.String()})
	require.NoError(b.t, err)
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Message)
	}
	return out
}

// canaryEvents lists the Events of fields on Canary name (`kubectl describe canary name`).
func (b *bed) canaryEvents(name string, fs fields.Set) []corev1.Event {
	sel := fields.Set{"involvedObject.kind": "Canary", "involvedObject.name": name}
	for k, v := range fs {
		sel[k] = v
	}
	list, err := b.env.Client().CoreV1().Events(b.ns).List(context.Background(), metav1.ListOptions{FieldSelector: sel.String()})
	require.NoError(b.t, err)
	return list.Items
}

// releaseEventsOnTheCanary checks that every release event of name from mark on is an Event on
// the Canary as Flagger records it: the Canary's apiVersion and UID, reason Synced, the
// event's type and message (a repeated one counted), the engine's reason as action; and that
// the controller recorded none on the target Deployment.
func (b *bed) releaseEventsOnTheCanary(rec *recorder, name string, mark int) {
	b.t.Helper()
	want := map[string]int{}
	for _, e := range rec.since(name, mark) {
		typ := corev1.EventTypeNormal
		if e.Type == canary.EventWarning {
			typ = corev1.EventTypeWarning
		}
		want[typ+" "+string(e.Reason)+" "+e.Message]++
	}
	require.NotEmpty(b.t, want)
	got := map[string]int{}
	b.poll(name+"'s release events written on its Canary", func() bool {
		clear(got)
		for _, e := range b.canaryEvents(name, fields.Set{"reason": driver.CanaryEventReason, "source": "canarykit"}) {
			got[e.Type+" "+e.Action+" "+e.Message] += int(e.Count)
		}
		for k, n := range want {
			if got[k] < n {
				return false
			}
		}
		return true
	})
	cn, err := b.dyn.Resource(Canaries).Namespace(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(b.t, err)
	for _, e := range b.canaryEvents(name, fields.Set{"source": "canarykit"}) {
		assert.Equal(b.t, cn.GetUID(), e.InvolvedObject.UID, e.Message)
		assert.Equal(b.t, "flagger.app/v1beta1", e.InvolvedObject.APIVersion, e.Message)
		assert.Equal(b.t, driver.CanaryEventReason, e.Reason, e.Message)
	}
	onDeployment, err := b.env.Client().CoreV1().Events(b.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": "Deployment", "involvedObject.name": name, "source": "canarykit"}.String()})
	require.NoError(b.t, err)
	assert.Empty(b.t, onDeployment.Items, "no release Event on the target Deployment")
}

const steps20 = "    interval: 1s\n    threshold: 1\n    stepWeight: 20\n    maxWeight: 40\n"

// One controller: a Canary is bootstrapped and released; an analysis edited mid-release
// applies from the next release; a Canary that does not load gets a Warning Event naming the
// field and is not driven.
func TestControllerReleasesAndTakesEditsFromTheNextRelease(t *testing.T) {
	b, rec := controllerBed(t)
	b.app("web")
	b.apply(canaryYAML("web", steps20))
	b.poll("web bootstrapped", func() bool {
		return b.image("web-primary") == "web:1" && b.status("web").Phase == canary.PhaseInitialized
	})

	mark := rec.mark()
	b.setImage("web", "web:2")
	b.poll("the release advanced to 20", func() bool { return slices.Contains(rec.weights("web", mark), 20) })
	b.apply(canaryYAML("web", "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 50\n"))
	b.poll("web:2 promoted", func() bool { return rec.has("web", canary.ReasonSucceeded, mark) })
	assert.Equal(t, []int{20, 40}, rec.weights("web", mark), "the running release kept its analysis")
	assert.Equal(t, "web:2", b.image("web-primary"))
	// `kubectl describe canary web` shows the release, as with Flagger
	b.releaseEventsOnTheCanary(rec, "web", 0)
	b.poll("the Canary's status says Succeeded, Promoted", func() bool {
		st := b.status("web")
		status, reason := st.promoted()
		return st.Phase == canary.PhaseSucceeded && status == "True" && reason == "Succeeded"
	})

	mark = rec.mark()
	b.setImage("web", "web:3")
	b.poll("web:3 promoted", func() bool { return rec.has("web", canary.ReasonSucceeded, mark) })
	assert.Equal(t, []int{10, 20, 30, 40, 50}, rec.weights("web", mark), "the next release has the edited analysis")

	b.app("bad")
	b.apply(canaryYAML("bad", "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 500\n"))
	b.poll("a Warning Event on the invalid Canary", func() bool { return len(b.warnings("bad")) > 0 })
	assert.Contains(t, b.warnings("bad")[0], "spec.analysis.maxWeight: must be 1..100, got 500")
	b.apply(strings.Replace(canaryYAML("bad", steps20), "port: 8080", "port: 8080, gateways: [public]", 1))
	b.poll("a Warning Event naming the unsupported field", func() bool {
		return slices.ContainsFunc(b.warnings("bad"), func(m string) bool { return strings.Contains(m, "spec.service.gateways") })
	})
	_, err := b.env.Client().AppsV1().Deployments(b.ns).Get(context.Background(), "bad-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "an invalid Canary is not driven")
}

// Deleting a Canary mid-release stops its driver: all traffic goes to the primary, the
// target is scaled to zero, and the Lease is released. With spec.revertOnDeletion the
// controller holds Flagger's finalizer and, on deletion, hands the target back: scaled up,
// the apex Service selecting its pods, the TrafficSplit, the primary and the generated
// Services removed; then the Canary is gone.
func TestControllerDeletion(t *testing.T) {
	b, rec := controllerBed(t)
	slow := "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 90\n"
	for _, name := range []string{"keep", "revert"} {
		b.app(name)
	}
	b.apply(canaryYAML("keep", slow))
	b.configAndAutoscaler("revert")
	b.apply(canaryYAML("revert", slow) + "  revertOnDeletion: true\n  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: revert}\n")
	for _, name := range []string{"keep", "revert"} {
		b.poll(name+" bootstrapped", func() bool {
			return b.image(name+"-primary") == name+":1" && b.status(name).Phase == canary.PhaseInitialized
		})
	}
	cn, err := b.dyn.Resource(Canaries).Namespace(b.ns).Get(context.Background(), "revert", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cn.GetFinalizers(), Finalizer)
	for _, name := range []string{"revert-config-primary"} {
		_, err := b.env.Client().CoreV1().ConfigMaps(b.ns).Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err, "the primary's copy of the tracked config exists before the deletion")
	}
	_, err = b.env.Client().AutoscalingV2().HorizontalPodAutoscalers(b.ns).Get(context.Background(), "revert-primary", metav1.GetOptions{})
	require.NoError(t, err, "the primary's autoscaler exists before the deletion")

	mark := rec.mark()
	b.setImage("keep", "keep:2")
	b.setImage("revert", "revert:2")
	b.poll("both mid-release", func() bool {
		return slices.Contains(rec.weights("keep", mark), 20) && slices.Contains(rec.weights("revert", mark), 20)
	})

	del := func(name string) {
		require.NoError(t, b.dyn.Resource(Canaries).Namespace(b.ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
	}
	del("keep")
	b.poll("keep's traffic on the primary, its target scaled down, its lease released", func() bool {
		w, ok := b.trafficSplit("keep")
		return ok && w == canary.AllPrimary() && b.replicas("keep") == 0 && b.holder("keep") == ""
	})
	assert.Equal(t, "keep:1", b.image("keep-primary"), "the primary stays")
	assert.True(t, b.serviceExists("keep-primary"))
	stopped := rec.mark()

	del("revert")
	b.poll("the revert Canary is gone (finalizer removed)", func() bool {
		_, err := b.dyn.Resource(Canaries).Namespace(b.ns).Get(context.Background(), "revert", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	_, ok := b.trafficSplit("revert")
	assert.False(t, ok, "the TrafficSplit is removed")
	assert.Empty(t, b.image("revert-primary"), "the primary Deployment is removed")
	assert.False(t, b.serviceExists("revert-primary"))
	assert.False(t, b.serviceExists("revert-canary"))
	assert.Equal(t, int32(1), b.replicas("revert"), "the target is scaled back to the primary's replicas")
	apex, err := b.env.Client().CoreV1().Services(b.ns).Get(context.Background(), "revert", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "revert"}, apex.Spec.Selector, "the apex Service selects the target's pods")
	assert.NotContains(t, apex.Labels, canary.LabelManagedBy, "the apex Service is the user's again")
	_, err = b.env.Client().CoordinationV1().Leases(b.ns).Get(context.Background(), "revert-canarykit", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the target's Lease is removed")
	_, err = b.env.Client().CoreV1().ConfigMaps(b.ns).Get(context.Background(), "revert-config-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the primary's config copy is removed")
	_, err = b.env.Client().AutoscalingV2().HorizontalPodAutoscalers(b.ns).Get(context.Background(), "revert-primary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the primary's autoscaler is removed")
	_, err = b.env.Client().CoreV1().ConfigMaps(b.ns).Get(context.Background(), "revert-config", metav1.GetOptions{})
	assert.NoError(t, err, "the target's own config stays")
	_, err = b.env.Client().AutoscalingV2().HorizontalPodAutoscalers(b.ns).Get(context.Background(), "revert", metav1.GetOptions{})
	assert.NoError(t, err, "the target's own autoscaler stays")
	b.poll("the Terminating and Terminated Events on the revert Canary, as Flagger records them", func() bool {
		var msgs []string
		for _, e := range b.canaryEvents("revert", fields.Set{"reason": driver.CanaryEventReason, "type": corev1.EventTypeNormal}) {
			msgs = append(msgs, e.Message)
		}
		return slices.Contains(msgs, "Terminating canary revert."+b.ns) && slices.Contains(msgs, "Terminated canary revert."+b.ns)
	})

	// neither target is driven any more
	b.setImage("keep", "keep:3")
	w, _ := b.trafficSplit("keep")
	assert.Equal(t, canary.AllPrimary(), w)
	assert.Empty(t, rec.since("keep", stopped), "no release after the deletion")
}

// A Canary refused mid-release (edited to a spec canarykit does not drive) leaves its target
// as it is while it exists; deleted then, its target's traffic goes back to the primary, as for
// a Canary driven to its deletion.
func TestControllerDeletionOfACanaryRefusedMidRelease(t *testing.T) {
	b, rec := controllerBed(t)
	b.app("broken")
	slow := "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 90\n"
	b.apply(canaryYAML("broken", slow))
	b.poll("bootstrapped", func() bool { return b.status("broken").Phase == canary.PhaseInitialized })
	mark := rec.mark()
	b.setImage("broken", "broken:2")
	b.poll("mid-release", func() bool { return slices.Contains(rec.weights("broken", mark), 20) })

	b.apply(strings.Replace(canaryYAML("broken", slow), "service: {port: 8080}", "service: {port: 8080, backends: [backend.test]}", 1))
	b.poll("a Warning: not driven", func() bool {
		for _, m := range b.warnings("broken") {
			if strings.Contains(m, "spec.service.backends") {
				return true
			}
		}
		return false
	})
	stopped, _ := b.trafficSplit("broken")
	require.NotEqual(t, canary.AllPrimary(), stopped, "refused mid-release, the target is left as it is")

	require.NoError(t, b.dyn.Resource(Canaries).Namespace(b.ns).Delete(context.Background(), "broken", metav1.DeleteOptions{}))
	b.poll("the traffic on the primary, the lease released", func() bool {
		w, ok := b.trafficSplit("broken")
		return ok && w == canary.AllPrimary() && b.holder("broken") == ""
	})
	assert.Equal(t, "broken:1", b.image("broken-primary"), "the primary stays")
}

// A Canary edited to another port mid-release restarts its Target, which resumes the release
// from its step; edited to another targetRef mid-release, the old target is left on its
// primary and the new one starts from scratch (bootstrapped, its own status).
func TestControllerRestartsOnAnEditedTargetOrService(t *testing.T) {
	b, rec := controllerBed(t)
	b.app("one")
	b.app("two")
	manifest := func(target string, port int) string {
		return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
  service: {port: %d}
  analysis: {interval: 1s, threshold: 1, stepWeight: 10, maxWeight: 50}
`, target, port)
	}
	b.apply(manifest("one", 8080))
	b.poll("one bootstrapped", func() bool {
		return b.image("one-primary") == "one:1" && b.status("web").Phase == canary.PhaseInitialized
	})

	mark := rec.mark()
	b.setImage("one", "one:2")
	b.poll("one advanced to 20", func() bool { return slices.Contains(rec.weights("one", mark), 20) })
	b.apply(manifest("one", 9090))
	b.poll("one:2 promoted", func() bool { return rec.has("one", canary.ReasonSucceeded, mark) })
	assert.True(t, rec.has("one", canary.ReasonResumed, mark), "the new Target resumed the release")
	assert.Equal(t, []int{10, 20, 30, 40, 50}, rec.weights("one", mark), "no step repeated or skipped")
	apex, err := b.env.Client().CoreV1().Services(b.ns).Get(context.Background(), "one", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(9090), apex.Spec.Ports[0].Port, "the edited port applies")

	mark = rec.mark()
	b.setImage("one", "one:3")
	b.poll("one:3 advanced to 20", func() bool { return slices.Contains(rec.weights("one", mark), 20) })
	b.apply(manifest("two", 9090))
	b.poll("two bootstrapped under the Canary", func() bool {
		return b.image("two-primary") == "two:1" && b.status("web").Phase == canary.PhaseInitialized
	})
	b.poll("one left on its primary, scaled down, its lease released", func() bool {
		w, ok := b.trafficSplit("one")
		return ok && w == canary.AllPrimary() && b.replicas("one") == 0 && b.holder("one") == ""
	})
	assert.Equal(t, "one:2", b.image("one-primary"), "one:3 was not promoted")
	assert.False(t, rec.has("one", canary.ReasonSucceeded, mark))

	mark = rec.mark()
	b.setImage("two", "two:2")
	b.poll("two:2 promoted", func() bool { return rec.has("two", canary.ReasonSucceeded, mark) })
	assert.Equal(t, "two:2", b.image("two-primary"))
	assert.Equal(t, canary.PhaseSucceeded, b.status("web").Phase)
}

// configAndAutoscaler gives the Deployment name a tracked ConfigMap "<name>-config" (envFrom)
// and an autoscaler "<name>".
func (b *bed) configAndAutoscaler(name string) {
	ctx := context.Background()
	_, err := b.env.Client().CoreV1().ConfigMaps(b.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name + "-config"},
		Data: map[string]string{"GREETING": "hello"}}, metav1.CreateOptions{})
	require.NoError(b.t, err)
	require.NoError(b.t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := b.env.Client().AppsV1().Deployments(b.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}}}}
		_, err = b.env.Client().AppsV1().Deployments(b.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
	_, err = b.env.Client().AutoscalingV2().HorizontalPodAutoscalers(b.ns).Create(ctx, testenv.CPUAutoscaler(name, 1, 2), metav1.CreateOptions{})
	require.NoError(b.t, err)
}

// A second Canary of a Deployment another Canary drives is refused with a Warning naming the
// first, touching nothing, and drives the Deployment once the first is deleted (reverted, so
// its objects are gone).
func TestControllerRefusesASecondCanaryOfATarget(t *testing.T) {
	b, _ := controllerBed(t)
	b.app("web")
	slow := "    interval: 1s\n    threshold: 1\n    stepWeight: 10\n    maxWeight: 90\n"
	b.apply(canaryYAML("web", slow) + "  revertOnDeletion: true\n")
	b.poll("web initialized", func() bool { return b.status("web").Phase == canary.PhaseInitialized })
	b.apply(strings.Replace(canaryYAML("web", slow), "metadata: {name: web}", "metadata: {name: web-b}", 1))
	b.poll("a Warning on web-b naming web", func() bool {
		for _, m := range b.warnings("web-b") {
			if strings.Contains(m, "spec.targetRef") && strings.Contains(m, "Deployment "+b.ns+"/web is the target of "+b.ns+"/web ") {
				return true
			}
		}
		return false
	})
	assert.Empty(t, b.status("web-b").Phase, "web-b is not driven")
	assert.Equal(t, canary.PhaseInitialized, b.status("web").Phase)

	require.NoError(t, b.dyn.Resource(Canaries).Namespace(b.ns).Delete(context.Background(), "web", metav1.DeleteOptions{}))
	b.poll("web-b drives the target once web is gone", func() bool { return b.status("web-b").Phase == canary.PhaseInitialized })
	p, err := b.env.Client().AppsV1().Deployments(b.ns).Get(context.Background(), "web-primary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "web-b", p.Annotations[kube.AnnotationCanary], "the primary is web-b's")
}

// mover is the Canary "mover" of the Deployment target, stepping by 10 up to maxWeight.
func mover(target string, maxWeight int) string {
	return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: mover}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
  service: {port: 8080}
  analysis: {interval: 1s, threshold: 1, stepWeight: 10, maxWeight: %d}
`, target, maxWeight)
}

// A Canary deleted while it moves to another targetRef drives neither target afterwards: the
// move leaves the old one on its primary and starts no Target for the new one.
func TestControllerDeletionDuringAMove(t *testing.T) {
	b, _ := controllerBed(t)
	b.app("from")
	b.app("to")
	b.apply(mover("from", 50))
	b.poll("from bootstrapped", func() bool { return b.status("mover").Phase == canary.PhaseInitialized })
	b.apply(mover("to", 50))
	require.NoError(t, b.dyn.Resource(Canaries).Namespace(b.ns).Delete(context.Background(), "mover", metav1.DeleteOptions{}))
	b.poll("from's lease released", func() bool { return b.holder("from") == "" })
	b.poll("no lease held for to", func() bool { return b.holder("to") == "" })
	// a Target started for the deleted Canary takes to's lease again at every attempt
	for range 100 {
		require.Empty(t, b.holder("to"), "no Target drives to for a Canary that is gone")
		time.Sleep(30 * time.Millisecond)
	}
}
