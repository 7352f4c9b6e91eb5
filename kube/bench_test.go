package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// BenchmarkWorkloadObserve is the workload's read of every analysis step: the target and its
// primary from the caches, their revision and readiness. The objects carry a UID and a
// generation, as those of an API server do; "tracked-configs" has the target read a 4 KiB
// ConfigMap through a volume and a Secret through envFrom.
func BenchmarkWorkloadObserve(b *testing.B) {
	labels := map[string]string{"app": "podinfo"}
	dep := func(name string, configs bool) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"), Generation: 1},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "podinfo:1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}}}}}}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}}
		if configs {
			spec := &d.Spec.Template.Spec
			spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}}}
			spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-secret"}}}}
		}
		return d
	}
	for _, bc := range []struct {
		name    string
		configs bool
	}{{"template", false}, {"tracked-configs", true}} {
		b.Run(bc.name, func(b *testing.B) {
			objs := []runtime.Object{dep("podinfo", bc.configs), dep("podinfo-primary", bc.configs)}
			if bc.configs {
				objs = append(objs,
					&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-config", Namespace: "ns", UID: "cm-uid"},
						Data: map[string]string{"config.yaml": strings.Repeat("key: value\n", 372)}},
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "podinfo-secret", Namespace: "ns", UID: "secret-uid"},
						Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"TOKEN": []byte("s3cr3t")}})
			}
			c, err := New(Options{Client: fake.NewClientset(objs...)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			target := canary.Target{Namespace: "ns", Name: "podinfo"}
			w, err := c.Workload(WorkloadOptions{Target: target, Port: 9898})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			first, err := w.Observe(ctx, target)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				st, err := w.Observe(ctx, target)
				if err != nil {
					b.Fatal(err)
				}
				if st.Revision != first.Revision || !st.Canary.Ready {
					b.Fatalf("observed %+v, then %+v", first, st)
				}
			}
		})
	}
}

// BenchmarkCachePerTarget measures the heap the namespace caches keep per target: its
// Deployment and primary, three Services and two autoscalers, each as a cluster reports them
// (status, conditions, last-applied annotation on the user's objects), decoded from JSON as
// a watch delivers them, passed through the caches' transform and stored in an index by
// namespace, as the informers store them, for 200 targets.
func BenchmarkCachePerTarget(b *testing.B) {
	const n = 200
	type encoded struct {
		data []byte
		new  func() runtime.Object
	}
	var objs []encoded
	for i := range n {
		for _, o := range targetObjects(fmt.Sprintf("app-%04d", i)) {
			data, err := json.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			proto := o.DeepCopyObject()
			objs = append(objs, encoded{data: data, new: func() runtime.Object {
				return reflect.New(reflect.TypeOf(proto).Elem()).Interface().(runtime.Object)
			}})
		}
	}
	var perTarget float64
	for b.Loop() {
		before := heapInUse()
		stores := map[reflect.Type]cache.Indexer{} // one per resource, as one informer each
		for _, e := range objs {
			obj := e.new()
			if err := json.Unmarshal(e.data, obj); err != nil {
				b.Fatal(err)
			}
			cached, err := trimCached(obj)
			if err != nil {
				b.Fatal(err)
			}
			store := stores[reflect.TypeOf(cached)]
			if store == nil {
				store = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
				stores[reflect.TypeOf(cached)] = store
			}
			if err := store.Add(cached); err != nil {
				b.Fatal(err)
			}
		}
		perTarget = float64(heapInUse()-before) / n
		stored := 0
		for _, store := range stores {
			stored += len(store.List())
		}
		if stored != len(objs) {
			b.Fatalf("%d objects stored, want %d", stored, len(objs))
		}
	}
	b.ReportMetric(perTarget, "B/target")
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// targetObjects are what a cluster holds for one released target name: the Deployment (applied
// with kubectl) and its primary, the apex, primary and canary Services and the two autoscalers,
// with the fields the API server and the controllers fill in.
func targetObjects(name string) []runtime.Object {
	now := metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	meta := func(name string, labels, annotations map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-6f1c2b9e-8d1a-4f3e-9c55-0a1b2c3d4e5f"),
			ResourceVersion: "123456", Generation: 2, CreationTimestamp: now, Labels: labels, Annotations: annotations}
	}
	managed := func(target string) (map[string]string, map[string]string) {
		return map[string]string{"app": target, "app.kubernetes.io/managed-by": "canarykit"}, map[string]string{AnnotationTarget: target}
	}
	dep := func(name string, labels, annotations map[string]string) *appsv1.Deployment {
		sel := map[string]string{"app": name}
		return &appsv1.Deployment{ObjectMeta: meta(name, labels, annotations),
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: sel},
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%"))}},
				RevisionHistoryLimit: ptr.To(int32(10)), ProgressDeadlineSeconds: ptr.To(int32(600)),
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "ghcr.io/stefanprodan/podinfo:6.7.1",
						Ports:                  []corev1.ContainerPort{{Name: "http", ContainerPort: 9898, Protocol: corev1.ProtocolTCP}},
						TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
						ImagePullPolicy: corev1.PullIfNotPresent}},
						RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To(int64(30)), DNSPolicy: corev1.DNSClusterFirst,
						SecurityContext: &corev1.PodSecurityContext{}, SchedulerName: "default-scheduler"}}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
				Conditions: []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: now, LastTransitionTime: now,
						Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."},
					{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, LastUpdateTime: now, LastTransitionTime: now,
						Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", name+"-5d8f7c9b6d")}}}}
	}
	svc := func(name, selects string) *corev1.Service {
		labels, annotations := managed(strings.TrimSuffix(strings.TrimSuffix(name, "-primary"), "-canary"))
		return &corev1.Service{ObjectMeta: meta(name, labels, annotations), Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.12.34", ClusterIPs: []string{"10.0.12.34"}, Selector: map[string]string{"app": selects},
			Ports:           []corev1.ServicePort{{Name: "http", Port: 9898, TargetPort: intstr.FromInt32(9898), Protocol: corev1.ProtocolTCP}},
			SessionAffinity: corev1.ServiceAffinityNone, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack), InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster)}}
	}
	hpa := func(name, target string) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(name, nil, nil),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
				MinReplicas:    ptr.To(int32(1)), MaxReplicas: 2,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(99))}}}}},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 1, DesiredReplicas: 1,
				CurrentMetrics: []autoscalingv2.MetricStatus{{Type: ""}},
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, LastTransitionTime: now, Reason: "SucceededGetScale",
						Message: "the HPA controller was able to get the target's current scale"},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, LastTransitionTime: now, Reason: "FailedGetResourceMetric",
						Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: " +
							"unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)"}}}}
	}
	applied := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"labels":{"app":%q},"name":%q,"namespace":"ns"},`+
		`"spec":{"replicas":1,"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},`+
		`"spec":{"containers":[{"image":"ghcr.io/stefanprodan/podinfo:6.7.1","name":"podinfod","ports":[{"containerPort":9898,"name":"http"}]}]}}}}`,
		name, name, name, name)
	primaryLabels, primaryAnnotations := managed(name)
	primaryAnnotations[AnnotationRevision] = "0123456789abcdef"
	return []runtime.Object{
		dep(name, map[string]string{"app": name}, map[string]string{"deployment.kubernetes.io/revision": "2",
			"kubectl.kubernetes.io/last-applied-configuration": applied}),
		dep(name+"-primary", primaryLabels, primaryAnnotations),
		svc(name, name+"-primary"), svc(name+"-primary", name+"-primary"), svc(name+"-canary", name),
		hpa(name, name), hpa(name+"-primary", name+"-primary"),
	}
}
