package kube

import (
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Taking over from Flagger: the objects Flagger generated for the Workload's Canary (its
// controller owner reference is that flagger.app Canary: see canary.FlaggerOwned) are the
// Workload's, as objects an earlier canarykit made without a Canary record are: checkOwned
// accepts them and the next write claims them (label, target and Canary annotations), keeping
// Flagger's owner reference, so deleting the Canary still deletes them as it did under Flagger.
// Flagger's primary records no canarykit revision: when its pod template is what canarykit
// would make of the target's, and its config copies hold the originals' data, it runs the
// target's revision (Observe reports it, Bootstrap records it on the primary), so the switch
// releases nothing until the target changes.

// flaggerIDAnnotation is the annotation Flagger gives the primary's pod template, a fresh
// random value at every promotion (it forces the rollout).
const flaggerIDAnnotation = "flagger-id"

// fluxMarker marks the label and annotation keys Flagger leaves out of the primary (Flux's).
const fluxMarker = "toolkit.fluxcd.io"

// flaggerOwned reports whether obj, without canarykit's label, is one Flagger generated for
// the Workload's Canary.
func (w *Workload) flaggerOwned(obj metav1.Object) bool {
	if obj.GetLabels()[canary.LabelManagedBy] == canary.ManagedBy {
		return false // canarykit's record decides
	}
	ref := metav1.GetControllerOfNoCopy(obj)
	return ref != nil && canary.FlaggerOwned(w.opts.Target, ref.APIVersion, ref.Kind, ref.Name, string(ref.UID))
}

// primaryRevision is the revision primary p runs: the one canarykit recorded on it, else —
// a primary Flagger made for the Workload's Canary, or one claimed a moment ago that the cache
// shows unchanged — the target's revision rev if p runs the target's pod template and
// configuration, else "". A primary that is not the Workload's (checkOwned) runs none.
func (w *Workload) primaryRevision(nc *nsCache, p, d app, tracked []trackedConfig, rev string) string {
	if w.checkOwned(p.ObjectMeta, w.kind.resource(), d) != nil {
		return "" // another Canary's primary, even with the revision it recorded
	}
	if r := p.Annotations[AnnotationRevision]; r != "" {
		return r
	}
	key, value, err := selectorLabel(d)
	if err != nil || !w.runsTarget(nc, p, d, key, value, tracked) {
		return ""
	}
	return rev
}

// runsTarget reports whether primary p runs target d's current pod template and tracked
// configuration: its template is the one Promote would write, but for what Flagger writes
// differently (its flagger-id annotation, Flux's keys left out, the primary suffix in
// anti-affinity and topology spread selectors), and each tracked config's primary copy holds
// the original's data.
func (w *Workload) runsTarget(nc *nsCache, p, d app, key, value string, tracked []trackedConfig) bool {
	want := w.primaryTemplate(d, key, value, tracked)
	flaggerSelectors(&want.Spec, d.Name)
	got := p.Template.DeepCopy()
	delete(got.Annotations, flaggerIDAnnotation)
	for _, m := range []map[string]string{got.Labels, got.Annotations, want.Labels, want.Annotations} {
		for k := range m {
			if strings.Contains(k, fluxMarker) {
				delete(m, k)
			}
		}
	}
	if !equality.Semantic.DeepEqual(got, want) {
		return false
	}
	for _, tc := range tracked {
		name := primaryConfigName(tc.ref.name)
		switch {
		case tc.configMap != nil:
			cm, err := nc.configMaps.ConfigMaps(d.Namespace).Get(name)
			if err != nil || !equality.Semantic.DeepEqual(cm.Data, tc.configMap.Data) ||
				!equality.Semantic.DeepEqual(cm.BinaryData, tc.configMap.BinaryData) {
				return false
			}
		case tc.secret != nil:
			s, err := nc.secrets.Secrets(d.Namespace).Get(name)
			if err != nil || !equality.Semantic.DeepEqual(s.Data, tc.secret.Data) {
				return false
			}
		}
	}
	return true
}

// flaggerSelectors gives the app label values equal to the target's name, in spec's topology
// spread constraints and pod anti-affinity terms, the primary suffix, as Flagger does in the
// primary it makes.
func flaggerSelectors(spec *corev1.PodSpec, target string) {
	fix := func(s *metav1.LabelSelector) {
		if s == nil {
			return
		}
		for i := range s.MatchExpressions {
			e := &s.MatchExpressions[i]
			if !slices.Contains(selectorLabels, e.Key) {
				continue
			}
			if j := slices.Index(e.Values, target); j >= 0 {
				e.Values[j] += "-primary"
			}
		}
		for k, v := range s.MatchLabels {
			if slices.Contains(selectorLabels, k) && v == target {
				s.MatchLabels[k] = v + "-primary"
			}
		}
	}
	for i := range spec.TopologySpreadConstraints {
		fix(spec.TopologySpreadConstraints[i].LabelSelector)
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for i := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			fix(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm.LabelSelector)
		}
		for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			fix(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i].LabelSelector)
		}
	}
}
