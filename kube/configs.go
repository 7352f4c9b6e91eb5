package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Config tracking: the ConfigMaps and Secrets a pod template references are part of the
// target's revision (a change to them starts a release) and are copied for the primary with a
// "-primary" suffix, so the primary keeps running on the promoted configuration.
const (
	// AnnotationConfigTracking set to "disabled" on a ConfigMap or Secret leaves it out of
	// tracking: it is shared by primary and canary as is. Flagger's "flagger.app/config-tracking"
	// is honoured too.
	AnnotationConfigTracking        = "canarykit.dev/config-tracking"
	flaggerAnnotationConfigTracking = "flagger.app/config-tracking"
)

type configKind string

const (
	kindConfigMap configKind = "ConfigMap"
	kindSecret    configKind = "Secret"
)

// configRef is one ConfigMap or Secret a pod template references.
type configRef struct {
	kind     configKind
	name     string
	required bool // referenced at least once without optional: true
}

func (r configRef) String() string { return string(r.kind) + "/" + r.name }

// configRefs lists the ConfigMaps and Secrets referenced by spec (volumes, projected volumes,
// env valueFrom, envFrom, in containers and init containers), sorted, each once.
func configRefs(spec *corev1.PodSpec) []configRef {
	refs := map[configRef]bool{} // keyed without required; value: required
	add := func(kind configKind, name string, optional *bool) {
		if name == "" {
			return
		}
		k := configRef{kind: kind, name: name}
		refs[k] = refs[k] || optional == nil || !*optional
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			add(kindConfigMap, v.ConfigMap.Name, v.ConfigMap.Optional)
		}
		if v.Secret != nil {
			add(kindSecret, v.Secret.SecretName, v.Secret.Optional)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(kindConfigMap, s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					add(kindSecret, s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	for c := range containers(spec) {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add(kindConfigMap, r.Name, r.Optional)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add(kindSecret, r.Name, r.Optional)
			}
		}
		for _, e := range c.EnvFrom {
			if r := e.ConfigMapRef; r != nil {
				add(kindConfigMap, r.Name, r.Optional)
			}
			if r := e.SecretRef; r != nil {
				add(kindSecret, r.Name, r.Optional)
			}
		}
	}
	out := make([]configRef, 0, len(refs))
	for k, req := range refs {
		k.required = req
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b configRef) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// containers iterates over spec's init containers, then its containers, without copying them.
func containers(spec *corev1.PodSpec) iter.Seq[*corev1.Container] {
	return func(yield func(*corev1.Container) bool) {
		for _, cs := range [2][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range cs {
				if !yield(&cs[i]) {
					return
				}
			}
		}
	}
}

// trackedConfig is a referenced config as found in the cache.
type trackedConfig struct {
	ref       configRef
	configMap *corev1.ConfigMap // set for a present ConfigMap
	secret    *corev1.Secret    // set for a present Secret
	checksum  string            // "missing" when absent
}

// trackingDisabled reports whether a config opted out of tracking.
func trackingDisabled(annotations map[string]string) bool {
	return strings.HasPrefix(annotations[AnnotationConfigTracking], "disable") ||
		strings.HasPrefix(annotations[flaggerAnnotationConfigTracking], "disable")
}

// trackedSecretType reports whether secrets of type t are tracked (as Flagger: opaque, basic
// auth, SSH auth, TLS; not service-account tokens or registry credentials).
func trackedSecretType(t corev1.SecretType) bool {
	switch t {
	case corev1.SecretTypeOpaque, "", corev1.SecretTypeBasicAuth, corev1.SecretTypeSSHAuth, corev1.SecretTypeTLS:
		return true
	}
	return false
}

// trackedConfigs resolves spec's references in the cache, leaving out configs that opted out
// or are of an untracked type. A missing config is tracked as "missing", so its creation
// changes the revision. Checksums of objects memo saw on its last read are reused (memo may be
// nil).
func (nc *nsCache) trackedConfigs(ns string, spec *corev1.PodSpec, memo *revisionMemo) ([]trackedConfig, error) {
	var out []trackedConfig
	var seen []any
	for _, ref := range configRefs(spec) {
		tc := trackedConfig{ref: ref, checksum: "missing"}
		switch ref.kind {
		case kindConfigMap:
			cm, err := nc.configMaps.ConfigMaps(ns).Get(ref.name)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, err
			case trackingDisabled(cm.Annotations):
				continue
			default:
				tc.configMap = cm
				tc.checksum = memo.checksum(cm, func() string { return checksum(cm.Data, cm.BinaryData) })
				seen = append(seen, cm)
			}
		case kindSecret:
			s, err := nc.secrets.Secrets(ns).Get(ref.name)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, err
			case trackingDisabled(s.Annotations) || !trackedSecretType(s.Type):
				continue
			default:
				tc.secret = s
				tc.checksum = memo.checksum(s, func() string { return checksum(s.Data, s.Type) })
				seen = append(seen, s)
			}
		}
		out = append(out, tc)
	}
	memo.keepChecksums(seen)
	return out, nil
}

// checksum hashes values' JSON encodings (maps encode with sorted keys).
func checksum(values ...any) string {
	h := fnv.New64a()
	for _, v := range values {
		b, _ := json.Marshal(v)
		h.Write(b)
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// primaryConfigName is the name of a config's copy for the primary.
func primaryConfigName(name string) string { return name + "-primary" }

// rewriteConfigRefs points spec's references to tracked configs at their primary copies.
func rewriteConfigRefs(spec *corev1.PodSpec, tracked []trackedConfig) {
	names := map[configRef]string{}
	for _, tc := range tracked {
		if tc.configMap != nil || tc.secret != nil {
			names[configRef{kind: tc.ref.kind, name: tc.ref.name}] = primaryConfigName(tc.ref.name)
		}
	}
	rename := func(kind configKind, name *string) {
		if n, ok := names[configRef{kind: kind, name: *name}]; ok {
			*name = n
		}
	}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.ConfigMap != nil {
			rename(kindConfigMap, &v.ConfigMap.Name)
		}
		if v.Secret != nil {
			rename(kindSecret, &v.Secret.SecretName)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					rename(kindConfigMap, &s.ConfigMap.Name)
				}
				if s.Secret != nil {
					rename(kindSecret, &s.Secret.Name)
				}
			}
		}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			c := &cs[i]
			for j := range c.Env {
				if vf := c.Env[j].ValueFrom; vf != nil {
					if vf.ConfigMapKeyRef != nil {
						rename(kindConfigMap, &vf.ConfigMapKeyRef.Name)
					}
					if vf.SecretKeyRef != nil {
						rename(kindSecret, &vf.SecretKeyRef.Name)
					}
				}
			}
			for j := range c.EnvFrom {
				if r := c.EnvFrom[j].ConfigMapRef; r != nil {
					rename(kindConfigMap, &r.Name)
				}
				if r := c.EnvFrom[j].SecretRef; r != nil {
					rename(kindSecret, &r.Name)
				}
			}
		}
	}
}

// revision identifies a pod template together with the configuration it references.
func revision(tmpl *corev1.PodTemplateSpec, tracked []trackedConfig) string {
	configs := make([]string, len(tracked))
	for i, tc := range tracked {
		configs[i] = tc.ref.String() + "=" + tc.checksum
	}
	return revisionOfParts(tmpl, configs)
}

// revisionOfParts is revision with the tracked configs as "Kind/name=checksum".
func revisionOfParts(tmpl *corev1.PodTemplateSpec, configs []string) string {
	parts := make([]any, 0, 1+len(configs))
	parts = append(parts, tmpl)
	for _, c := range configs {
		parts = append(parts, c)
	}
	return checksum(parts...)
}

// copyStringMap returns a copy of m (nil stays nil).
func copyStringMap(m map[string]string) map[string]string { return maps.Clone(m) }

// TrackedConfigs returns the ConfigMaps and Secrets the target's pod template references and
// canarykit tracks, read from the caches, in the form of a Flagger Canary's
// status.trackedConfigs: "configmap/<name>" or "secret/<name>" to a checksum of the data
// (canarykit's own checksum, not Flagger's). Missing configs are left out; nil when there are
// none.
func (w *Workload) TrackedConfigs(ctx context.Context, t canary.Target) (map[string]string, error) {
	nc, d, err := w.lookup(ctx, t)
	if err != nil {
		return nil, err
	}
	tracked, err := nc.trackedConfigs(t.Namespace, &d.Template.Spec, &w.memo)
	if err != nil {
		return nil, err
	}
	var out map[string]string
	for _, tc := range tracked {
		if tc.configMap == nil && tc.secret == nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[strings.ToLower(string(tc.ref.kind))+"/"+tc.ref.name] = tc.checksum
	}
	return out, nil
}
