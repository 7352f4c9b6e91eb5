package kube

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// metaBed is a fake cluster with the target podinfo (app: podinfo) in namespace ns.
func metaBed(t *testing.T) *fake.Clientset {
	t.Helper()
	labels := map[string]string{"app": "podinfo"}
	return fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}}})
}

// bootstrapWith bootstraps the target with opts (Target and Port set here) through a Cluster
// of its own, whose caches start from the fake's objects as they are now.
func bootstrapWith(t *testing.T, client *fake.Clientset, opts WorkloadOptions) error {
	t.Helper()
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	opts.Target, opts.Port = canary.Target{Namespace: "ns", Name: "podinfo"}, 9898
	w, err := c.Workload(opts)
	require.NoError(t, err)
	return w.Bootstrap(context.Background(), opts.Target)
}

func getService(t *testing.T, client *fake.Clientset, name string) *corev1.Service {
	t.Helper()
	svc, err := client.CoreV1().Services("ns").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return svc
}

// flaggerService is the Service Flagger v1.44 writes for a Canary of target podinfo
// (pkg/router/kubernetes_default.go, reconcileService) with service {port: 9898, headless,
// trafficDistribution} and the given CustomMetadata: its labels are the metadata's with the
// selector label app=<name> over them; its annotations the metadata's and two of Flux's, which
// Flagger adds to keep Flux from reverting it (canarykit does not add them).
func flaggerService(name, selects string, md canary.Metadata, headless bool, distribution string) *corev1.Service {
	labels := maps.Clone(md.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["app"] = name
	annotations := maps.Clone(md.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations["kustomize.toolkit.fluxcd.io/reconcile"] = "disabled"
	annotations["helm.toolkit.fluxcd.io/driftDetection"] = "disabled"
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels, Annotations: annotations},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": selects},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 9898, TargetPort: intstr.FromInt32(9898)}}}}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if distribution != "" {
		svc.Spec.TrafficDistribution = &distribution
	}
	return svc
}

// without returns m without the keys keep reports.
func without(m map[string]string, drop func(string) bool) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !drop(k) {
			out[k] = v
		}
	}
	return out
}

// The apex, primary and canary Services of a Canary with service.apex, primary, canary,
// headless and trafficDistribution are the Services Flagger writes for it, but for the keys
// each adds of its own: canarykit's managed-by label and canarykit.dev/ annotations, Flagger's
// two Flux annotations.
func TestServicesAreShapedAsFlaggerShapesThem(t *testing.T) {
	client := metaBed(t)
	apex := canary.Metadata{Labels: map[string]string{"linkerd.io/workload-ns": "ns"},
		Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}
	primary := canary.Metadata{Labels: map[string]string{"tier": "stable"}, Annotations: map[string]string{"note": "primary"}}
	canaryMD := canary.Metadata{Labels: map[string]string{"tier": "canary"}}
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: apex, PrimaryMetadata: primary, CanaryMetadata: canaryMD,
		Headless: true, TrafficDistribution: "PreferClose", ApexSelectsPrimary: true}))
	for _, tc := range []struct {
		name, selects string
		md            canary.Metadata
	}{
		{"podinfo", "podinfo-primary", apex},
		{"podinfo-primary", "podinfo-primary", primary},
		{"podinfo-canary", "podinfo", canaryMD},
	} {
		want := flaggerService(tc.name, tc.selects, tc.md, true, "PreferClose")
		got := getService(t, client, tc.name)
		assert.Equal(t, want.Spec, got.Spec, tc.name)
		assert.Equal(t, want.Labels, without(got.Labels, func(k string) bool { return k == canary.LabelManagedBy }), tc.name)
		assert.Equal(t, canary.ManagedBy, got.Labels[canary.LabelManagedBy], tc.name)
		assert.Equal(t, without(want.Annotations, func(k string) bool { return strings.Contains(k, "fluxcd.io/") }),
			without(got.Annotations, func(k string) bool { return strings.HasPrefix(k, "canarykit.dev/") }), tc.name)
		assert.Equal(t, "podinfo", got.Annotations[AnnotationTarget], tc.name)
	}
}

// Keys removed from the Canary's metadata are removed from the Services at the next
// bootstrap, and a changed value is put back; keys listed in unmanagedMetadata that others set
// keep their value (even one the Canary sets too), and keys others set that canarykit never
// wrote are left alone (Flagger removes those; canarykit removes only what it wrote).
func TestServiceMetadataFollowsTheCanaryAndKeepsUnmanagedKeys(t *testing.T) {
	client := metaBed(t)
	unmanaged := canary.MetadataKeys{Labels: []string{"owner"}, Annotations: []string{"unmanaged", "shared"}}
	first := canary.Metadata{Labels: map[string]string{"team": "a", "gone": "x", "owner": "canary"},
		Annotations: map[string]string{"test": "expectedvalue", "removable": "x", "shared": "from-canary"}}
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: first, UnmanagedMetadata: unmanaged}))
	apex := getService(t, client, "podinfo")
	assert.Equal(t, "from-canary", apex.Annotations["shared"], "set at creation, as Flagger does")

	// others write on the apex
	u := apex.DeepCopy()
	u.Annotations["unmanaged"], u.Annotations["shared"], u.Annotations["test"], u.Annotations["other"] = "true", "theirs", "newvalue", "theirs"
	u.Labels["owner"], u.Labels["team"] = "them", "b"
	_, err := client.CoreV1().Services("ns").Update(context.Background(), u, metav1.UpdateOptions{})
	require.NoError(t, err)

	second := canary.Metadata{Labels: map[string]string{"team": "a"},
		Annotations: map[string]string{"test": "expectedvalue", "shared": "from-canary"}}
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: second, UnmanagedMetadata: unmanaged}))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo", canary.LabelManagedBy: canary.ManagedBy, "team": "a", "owner": "them"}, apex.Labels)
	assert.Equal(t, map[string]string{"test": "expectedvalue", "unmanaged": "true", "shared": "theirs", "other": "theirs"},
		without(apex.Annotations, func(k string) bool { return strings.HasPrefix(k, "canarykit.dev/") }))

	// no metadata at all: what the Canary set goes, the others' keys stay
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{UnmanagedMetadata: unmanaged}))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo", canary.LabelManagedBy: canary.ManagedBy, "owner": "them"}, apex.Labels)
	assert.Equal(t, map[string]string{"unmanaged": "true", "shared": "theirs", "other": "theirs", AnnotationTarget: "podinfo", AnnotationCanary: "podinfo"},
		apex.Annotations)
}

// The Services' own label (app=<service>, the target's selector label key) stays canarykit's
// when the metadata names it, as Flagger's does.
func TestServiceMetadataKeepsTheSelectorLabel(t *testing.T) {
	client := metaBed(t)
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{PrimaryMetadata: canary.Metadata{Labels: map[string]string{"app": "mine"}}}))
	p := getService(t, client, "podinfo-primary")
	assert.Equal(t, "podinfo-primary", p.Labels["app"])
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, p.Spec.Selector)
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{}))
	assert.Equal(t, "podinfo-primary", getService(t, client, "podinfo-primary").Labels["app"], "never recorded, never removed")
}

// A Service's clusterIP cannot change: a change of headless on existing Services is refused,
// naming service.headless, before anything is written; trafficDistribution, which can change,
// is corrected on the existing Services.
func TestHeadlessChangeIsRefusedAndTrafficDistributionFollows(t *testing.T) {
	client := metaBed(t)
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{}))
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		assert.Empty(t, getService(t, client, name).Spec.ClusterIP, "the fake assigns none; not headless")
	}
	before := len(client.Actions())
	err := bootstrapWith(t, client, WorkloadOptions{Headless: true, TrafficDistribution: "PreferClose"})
	require.Error(t, err)
	assert.True(t, canary.IsPermanent(err), "%v", err)
	assert.ErrorContains(t, err, "service.headless: service ns/")
	for _, a := range client.Actions()[before:] {
		assert.Contains(t, []string{"get", "list", "watch"}, a.GetVerb(), "nothing written: %v", a)
	}

	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{TrafficDistribution: "PreferSameZone"}))
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		assert.Equal(t, ptr.To("PreferSameZone"), getService(t, client, name).Spec.TrafficDistribution, name)
	}
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{}))
	assert.Equal(t, ptr.To("PreferSameZone"), getService(t, client, "podinfo").Spec.TrafficDistribution, "none set: left as it is")

	headless := metaBed(t)
	require.NoError(t, bootstrapWith(t, headless, WorkloadOptions{Headless: true}))
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		assert.Equal(t, corev1.ClusterIPNone, getService(t, headless, name).Spec.ClusterIP, name)
	}
	require.NoError(t, bootstrapWith(t, headless, WorkloadOptions{Headless: true}), "unchanged: nothing to refuse")
	err = bootstrapWith(t, headless, WorkloadOptions{})
	assert.ErrorContains(t, err, "service.headless: service ns/")
	assert.ErrorContains(t, err, "exists headless")
}

// Handing the apex back takes the Canary's apex labels and annotations with canarykit's own.
func TestHandBackApexRemovesTheCanarysMetadata(t *testing.T) {
	client := metaBed(t)
	md := canary.Metadata{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"dns": "podinfo.example.com"}}
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: md}))
	apex := getService(t, client, "podinfo")
	u := apex.DeepCopy()
	u.Annotations["other"] = "theirs"
	_, err := client.CoreV1().Services("ns").Update(context.Background(), u, metav1.UpdateOptions{})
	require.NoError(t, err)

	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	tg := canary.Target{Namespace: "ns", Name: "podinfo"}
	w, err := c.Workload(WorkloadOptions{Target: tg, Port: 9898, ApexMetadata: md})
	require.NoError(t, err)
	require.NoError(t, w.HandBackApex(context.Background(), tg))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo"}, apex.Labels)
	assert.Equal(t, map[string]string{"other": "theirs"}, apex.Annotations)
}

// Metadata, unmanaged keys and trafficDistribution given in code are checked as the loader
// checks a Canary's, before anything is touched.
func TestServiceOptionsAreValidated(t *testing.T) {
	cluster, err := New(Options{Client: fake.NewClientset()})
	require.NoError(t, err)
	defer cluster.Close()
	_, err = cluster.Workload(WorkloadOptions{Target: canary.Target{Namespace: "test", Name: "podinfo"}, Port: 9898,
		ApexMetadata:        canary.Metadata{Labels: map[string]string{"bad key": "v"}},
		CanaryMetadata:      canary.Metadata{Annotations: map[string]string{AnnotationTarget: "other"}},
		UnmanagedMetadata:   canary.MetadataKeys{Labels: []string{canary.LabelManagedBy}},
		TrafficDistribution: "Nearby"})
	require.Error(t, err)
	assert.ErrorContains(t, err, `service.apex.labels["bad key"]`)
	assert.ErrorContains(t, err, "service.canary.annotations.canarykit.dev/target: keys under canarykit.dev/ are canarykit's own")
	assert.ErrorContains(t, err, "service.unmanagedMetadata.labels[0]: app.kubernetes.io/managed-by is canarykit's own label")
	assert.ErrorContains(t, err, `service.trafficDistribution: must be one of PreferClose, PreferSameZone, PreferSameNode, got "Nearby"`)
}

// userApex is the apex Service a user made (kept in Git), selecting the target's pods, with
// their own labels and annotations.
func userApex(labels, annotations map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns", Labels: labels, Annotations: annotations},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo"}, Ports: []corev1.ServicePort{{Name: "web", Port: 80}}}}
}

// logLines is a logger that keeps the messages it is given.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{})
}

// matching returns the lines that contain every one of subs.
func (l *logLines) matching(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// An apex Service the user made is adopted as Flagger adopts it: the Canary's apex labels and
// annotations are not written on it (Flagger writes them only on the Services it creates), so
// a key the user has keeps their value, and no key is added, recorded or removed, at any
// Bootstrap or at the hand-back, which leaves the user's labels and annotations exactly as
// they were. The Workload's log says once that spec.service.apex is not written there. The
// primary and canary Services, canarykit's own, still get theirs.
func TestAdoptedApexKeepsTheUsersLabelsAndAnnotations(t *testing.T) {
	userLabels := map[string]string{"team": "a", "app": "podinfo"}
	userAnnotations := map[string]string{"team": "a", "note": "git"}
	labels := map[string]string{"app": "podinfo"}
	client := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "ns"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "podinfo:1"}}}}}},
		userApex(maps.Clone(userLabels), maps.Clone(userAnnotations)))
	var logs logLines
	c, err := New(Options{Client: client, Logger: logs.logger()})
	require.NoError(t, err)
	defer c.Close()
	tg := canary.Target{Namespace: "ns", Name: "podinfo"}
	apexMD := canary.Metadata{Labels: map[string]string{"team": "b", "tier": "web"},
		Annotations: map[string]string{"team": "b", "external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com"}}
	opts := WorkloadOptions{Target: tg, Port: 9898, ApexMetadata: apexMD, PrimaryMetadata: canary.Metadata{Labels: map[string]string{"tier": "stable"}}}
	w, err := c.Workload(opts)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, w.Bootstrap(ctx, tg))
	require.NoError(t, w.Bootstrap(ctx, tg))

	apex := getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"team": "a", "app": "podinfo", canary.LabelManagedBy: canary.ManagedBy}, apex.Labels)
	assert.Equal(t, map[string]string{"team": "a", "note": "git", AnnotationTarget: "podinfo", AnnotationCanary: "podinfo", AnnotationAdopted: "true"},
		apex.Annotations, "nothing of the Canary's, no record")
	assert.Equal(t, map[string]string{"app": "podinfo-primary"}, apex.Spec.Selector, "adopted: selector and ports are canarykit's")
	assert.Equal(t, "stable", getService(t, client, "podinfo-primary").Labels["tier"], "created Services get their metadata")
	notes := logs.matching("spec.service.apex", "ns/podinfo")
	assert.Len(t, notes, 1, "said once: %v", logs.lines)

	// the Canary drops a key the user has too: the user's stays
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: canary.Metadata{Labels: map[string]string{"tier": "web"}}}))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, "a", apex.Labels["team"])
	assert.Equal(t, "a", apex.Annotations["team"])

	// the Kubernetes router's record of where it routes (blue/green without a mesh) goes too
	apex.Annotations["canarykit.dev/routed-to"] = "podinfo-primary"
	_, err = client.CoreV1().Services("ns").Update(ctx, apex, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, w.HandBackApex(ctx, tg))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, userLabels, apex.Labels, "handed back as the user had it")
	assert.Equal(t, userAnnotations, apex.Annotations, "handed back as the user had it")
	assert.Equal(t, map[string]string{"app": "podinfo"}, apex.Spec.Selector)
}

// An apex adopted by an earlier canarykit, which wrote the Canary's apex metadata on it and
// recorded the keys (canary.AnnotationMetadata) without marking the adoption, is told from a
// created one by being older than the primary Deployment: its next Bootstrap marks it and
// drops the record, and neither a key dropped from the Canary nor the hand-back removes a key
// the record lists (which of them were the user's is not known). An apex made with the
// primary (or after it) is canarykit's: the record's keys go as before.
func TestApexAdoptedByAnEarlierCanarykitKeepsItsKeys(t *testing.T) {
	md := canary.Metadata{Labels: map[string]string{"team": "b"}, Annotations: map[string]string{"team": "b", "dns": "podinfo.example.com"}}
	// legacy makes the state an earlier canarykit left: the apex written with md and the
	// record, created at apexAge and the primary at primaryAge
	legacy := func(t *testing.T, apexAge, primaryAge time.Time) *fake.Clientset {
		client := metaBed(t)
		require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: md}))
		ctx := context.Background()
		apex := getService(t, client, "podinfo")
		require.Contains(t, apex.Annotations, canary.AnnotationMetadata)
		apex.Labels["mine"], apex.Annotations["note"] = "x", "git" // the user's, never recorded
		apex.CreationTimestamp = metav1.NewTime(apexAge)
		_, err := client.CoreV1().Services("ns").Update(ctx, apex, metav1.UpdateOptions{})
		require.NoError(t, err)
		p, err := client.AppsV1().Deployments("ns").Get(ctx, "podinfo-primary", metav1.GetOptions{})
		require.NoError(t, err)
		p.CreationTimestamp = metav1.NewTime(primaryAge)
		_, err = client.AppsV1().Deployments("ns").Update(ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		return client
	}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	client := legacy(t, t0, t0.Add(time.Minute))
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: canary.Metadata{Labels: map[string]string{"tier": "web"}}}))
	apex := getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo", "mine": "x", "team": "b", canary.LabelManagedBy: canary.ManagedBy}, apex.Labels,
		"nothing set, nothing removed")
	assert.Equal(t, map[string]string{"team": "b", "dns": "podinfo.example.com", "note": "git",
		AnnotationTarget: "podinfo", AnnotationCanary: "podinfo", AnnotationAdopted: "true"}, apex.Annotations, "marked, the record dropped")
	c, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c.Close()
	tg := canary.Target{Namespace: "ns", Name: "podinfo"}
	w, err := c.Workload(WorkloadOptions{Target: tg, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, w.HandBackApex(context.Background(), tg))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo", "mine": "x", "team": "b"}, apex.Labels)
	assert.Equal(t, map[string]string{"team": "b", "dns": "podinfo.example.com", "note": "git"}, apex.Annotations)

	// handed back straight from the earlier canarykit's state: the same
	client = legacy(t, t0, t0.Add(time.Minute))
	c2, err := New(Options{Client: client})
	require.NoError(t, err)
	defer c2.Close()
	w, err = c2.Workload(WorkloadOptions{Target: tg, Port: 9898})
	require.NoError(t, err)
	require.NoError(t, w.HandBackApex(context.Background(), tg))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo", "mine": "x", "team": "b"}, apex.Labels)
	assert.Equal(t, map[string]string{"team": "b", "dns": "podinfo.example.com", "note": "git"}, apex.Annotations)

	// made in the same second as the primary: canarykit's, its recorded keys follow the Canary
	client = legacy(t, t0, t0)
	require.NoError(t, bootstrapWith(t, client, WorkloadOptions{ApexMetadata: canary.Metadata{Labels: map[string]string{"tier": "web"}}}))
	apex = getService(t, client, "podinfo")
	assert.Equal(t, map[string]string{"app": "podinfo", "mine": "x", "tier": "web", canary.LabelManagedBy: canary.ManagedBy}, apex.Labels)
	assert.NotContains(t, apex.Annotations, "team")
	assert.NotContains(t, apex.Annotations, AnnotationAdopted)
}
