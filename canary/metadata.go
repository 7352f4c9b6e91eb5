package canary

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/internal/textcut"
)

// Metadata is labels and annotations for an object the adapters generate for a target
// (Flagger's CustomMetadata: spec.service.apex, primary and canary). Kubernetes' rules apply
// (Problems), and the adapters' own keys are refused: the managed-by label and every key
// under "canarykit.dev/", which mark and record what the adapters own. An adapter writes
// them with ApplyMetadata, so a key removed from Metadata is removed from the object at its
// next write.
type Metadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Writable is m without the keys a Metadata may not hold (see Problems): canarykit's own, and
// those Kubernetes refuses. An adapter that copies the labels and annotations of a user's
// object onto one it generates (a canary Ingress from the user's Ingress) writes them with
// ApplyMetadata through it, so that a key the user removes is removed from the copy too.
// The number of entries is not bounded as Problems bounds a spec's: the copy has as many as
// m, and ApplyMetadata reads its record of them back whatever their number.
func (m Metadata) Writable() Metadata {
	out := Metadata{Labels: map[string]string{}, Annotations: map[string]string{}}
	for k, v := range m.Labels {
		if keyProblem(k, false) == "" && labelValueProblem(v) == "" {
			out.Labels[k] = v
		}
	}
	for k, v := range m.Annotations {
		if keyProblem(k, true) == "" {
			out.Annotations[k] = v
		}
	}
	return out
}

// IsZero reports whether m has no label and no annotation.
func (m Metadata) IsZero() bool { return len(m.Labels) == 0 && len(m.Annotations) == 0 }

// MetadataKeys lists label and annotation keys (Flagger's spec.service.unmanagedMetadata):
// keys others write on the generated objects, which ApplyMetadata leaves as they are.
type MetadataKeys struct {
	Labels      []string `json:"labels,omitempty"`
	Annotations []string `json:"annotations,omitempty"`
}

// Bounds of Metadata and MetadataKeys: entries per mapping or list, and the bytes of one
// Metadata's annotations (keys and values; Kubernetes allows 256 KiB for all of an object's).
const (
	MaxMetadataEntries         = 64
	MaxMetadataAnnotationBytes = 64 << 10
)

// AnnotationMetadata records, on an object written with ApplyMetadata, the label and
// annotation keys it set (a JSON MetadataKeys): the keys it removes once Metadata no longer
// has them. Keys it did not set are never removed.
const AnnotationMetadata = "canarykit.dev/metadata"

// ReservedPrefix is the prefix of the keys the adapters write for themselves (annotations
// such as AnnotationMetadata): a Metadata may not set them, and a target handed back loses
// them all.
const ReservedPrefix = "canarykit.dev/"

// Problems reports what Kubernetes would refuse in m, and what is beyond the bounds or
// reserved, each at its path under path ("spec.service.apex": spec.service.apex.labels.team),
// in key order.
func (m Metadata) Problems(path string) []FieldError {
	var out []FieldError
	fail := func(field, format string, args ...any) {
		out = append(out, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	lpath, apath := FieldPath(path, "labels"), FieldPath(path, "annotations")
	if n := len(m.Labels); n > MaxMetadataEntries {
		fail(lpath, "at most %d labels, got %d", MaxMetadataEntries, n)
	} else {
		for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
			at := FieldPath(lpath, k)
			if why := keyProblem(k, false); why != "" {
				fail(at, "%s", why)
			} else if why := labelValueProblem(m.Labels[k]); why != "" {
				fail(at, "%s", why)
			}
		}
	}
	if n := len(m.Annotations); n > MaxMetadataEntries {
		fail(apath, "at most %d annotations, got %d", MaxMetadataEntries, n)
		return out
	}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(m.Annotations)) {
		size += len(k) + len(m.Annotations[k])
		if why := keyProblem(k, true); why != "" {
			fail(FieldPath(apath, k), "%s", why)
		}
	}
	if size > MaxMetadataAnnotationBytes {
		fail(apath, "at most %d bytes of keys and values, got %d", MaxMetadataAnnotationBytes, size)
	}
	return out
}

// Problems reports keys that are not Kubernetes label or annotation keys, or reserved, and
// lists beyond the bounds, at their paths under path ("spec.service.unmanagedMetadata").
func (k MetadataKeys) Problems(path string) []FieldError {
	var out []FieldError
	for _, l := range []struct {
		name       string
		keys       []string
		annotation bool
	}{{"labels", k.Labels, false}, {"annotations", k.Annotations, true}} {
		at := FieldPath(path, l.name)
		if len(l.keys) > MaxMetadataEntries {
			out = append(out, FieldError{Field: at, Message: fmt.Sprintf("at most %d keys, got %d", MaxMetadataEntries, len(l.keys))})
			continue
		}
		for i, key := range l.keys {
			if why := keyProblem(key, l.annotation); why != "" {
				out = append(out, FieldError{Field: fmt.Sprintf("%s[%d]", at, i), Message: why})
			}
		}
	}
	return out
}

// keyProblem says why key cannot be a label key (or, with annotation, an annotation key) the
// adapters write for a user, or "".
func keyProblem(key string, annotation bool) string {
	check := key
	if annotation {
		check = strings.ToLower(key) // Kubernetes checks annotation keys in lower case
	}
	if why := qualifiedNameProblem(check); why != "" {
		return why
	}
	switch {
	case key == LabelManagedBy && !annotation:
		return fmt.Sprintf("%s is canarykit's own label (it marks the objects canarykit manages)", LabelManagedBy)
	case strings.HasPrefix(strings.ToLower(key), ReservedPrefix):
		return fmt.Sprintf("keys under %s are canarykit's own (they record what it manages)", ReservedPrefix)
	}
	return ""
}

// qualifiedNameProblem says why s is not a Kubernetes qualified name (an optional DNS
// subdomain prefix and "/", then a name of at most 63 characters: alphanumerics, '-', '_' and
// '.', starting and ending alphanumeric), or "".
func qualifiedNameProblem(s string) string {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	switch {
	case hasPrefix && !IsDNSSubdomain(prefix):
		return fmt.Sprintf("%q: the prefix before '/' must be a lowercase DNS subdomain of at most 253 characters", cut(s))
	case name == "":
		return fmt.Sprintf("%q: the name must not be empty", cut(s))
	case len(name) > 63:
		return fmt.Sprintf("%q: the name after any prefix must be at most 63 characters, got %d", cut(s), len(name))
	case !isQualifiedPart(name):
		return fmt.Sprintf("%q: the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric", cut(s))
	}
	return ""
}

// labelValueProblem says why v is not a label value (empty, or at most 63 characters of a
// qualified name's), or "".
func labelValueProblem(v string) string {
	switch {
	case v == "":
		return ""
	case len(v) > 63:
		return fmt.Sprintf("the value must be at most 63 characters, got %d", len(v))
	case !isQualifiedPart(v):
		return fmt.Sprintf("the value %q must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric", v)
	}
	return ""
}

func isQualifiedPart(s string) bool {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if s == "" || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// cut shortens s for a message.
func cut(s string) string { return textcut.Bytes(s, 80) }

// CutText is s when it has at most n bytes; otherwise as much of it as fits in n bytes with an
// ellipsis, cut between characters: what a message that carries untrusted text (an Event's, a
// log line's, bounded in size) keeps of it.
func CutText(s string, n int) string { return textcut.Within(s, n) }

// ApplyMetadata returns an object's labels and annotations with want written on them: want's
// keys set, and the keys an earlier ApplyMetadata set (AnnotationMetadata) that want no longer
// has removed, except those in unmanaged; a key in unmanaged that the object has keeps its
// value, whoever set it. Every other key is left as it is, and so the inputs are not
// modified. The record of want's keys is written in AnnotationMetadata (removed when want is
// empty). changed reports whether the result differs from the inputs. The caller sets its
// own keys afterwards (want cannot hold them: see Metadata).
func ApplyMetadata(labels, annotations map[string]string, want Metadata, unmanaged MetadataKeys) (outLabels, outAnnotations map[string]string, changed bool) {
	prev := recordedKeys(annotations[AnnotationMetadata])
	outLabels = applyKeys(maps.Clone(labels), prev.Labels, want.Labels, unmanaged.Labels)
	outAnnotations = applyKeys(maps.Clone(annotations), prev.Annotations, want.Annotations, unmanaged.Annotations)
	rec := MetadataKeys{Labels: slices.Sorted(maps.Keys(want.Labels)), Annotations: slices.Sorted(maps.Keys(want.Annotations))}
	if len(rec.Labels) == 0 && len(rec.Annotations) == 0 {
		delete(outAnnotations, AnnotationMetadata)
	} else {
		if outAnnotations == nil {
			outAnnotations = map[string]string{}
		}
		b, _ := json.Marshal(rec) // strings only: cannot fail
		outAnnotations[AnnotationMetadata] = string(b)
	}
	changed = !maps.Equal(labels, outLabels) || !maps.Equal(annotations, outAnnotations)
	return outLabels, outAnnotations, changed
}

// applyKeys writes want on m (nil is an empty map), removing the keys of prev that want lacks;
// keys listed in unmanaged that m has are left as they are.
func applyKeys(m map[string]string, prev []string, want map[string]string, unmanaged []string) map[string]string {
	for _, k := range prev {
		if _, keep := want[k]; !keep && !slices.Contains(unmanaged, k) {
			delete(m, k)
		}
	}
	for k, v := range want {
		if _, set := m[k]; set && slices.Contains(unmanaged, k) {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m
}

// recordedKeys reads AnnotationMetadata. The record is on an object others may edit: one that
// does not parse, or lists a key that is no label or annotation key, or a key of canarykit's
// own, is read as none (nothing is removed on its word). It is not held to the bounds of a
// Metadata (64 entries): a Writable copy of a user's object has as many keys as the object,
// and what ApplyMetadata records it must read back. maxRecord bounds it.
func recordedKeys(s string) MetadataKeys {
	var k MetadataKeys
	if s == "" || len(s) > maxRecord || json.Unmarshal([]byte(s), &k) != nil {
		return MetadataKeys{}
	}
	for _, l := range []struct {
		keys       []string
		annotation bool
	}{{k.Labels, false}, {k.Annotations, true}} {
		for _, key := range l.keys {
			if keyProblem(key, l.annotation) != "" {
				return MetadataKeys{}
			}
		}
	}
	return k
}

// maxRecord is the longest AnnotationMetadata read: Kubernetes' bound on all of an object's
// annotations together (256 KiB), so that every record an object can carry is read.
const maxRecord = 256 << 10

// TrafficDistributions are the values of a Service's spec.trafficDistribution that
// kube-apiserver v1.34 accepts (Flagger's spec.service.trafficDistribution): PreferClose, and
// PreferSameZone and PreferSameNode behind its PreferSameTrafficDistribution feature gate, on
// by default from v1.34.
var TrafficDistributions = []string{"PreferClose", "PreferSameZone", "PreferSameNode"}

// GitOpsMark reports whether key (a label's or an annotation's) is one of a GitOps tool's
// marks of its own objects: Flux's *.toolkit.fluxcd.io/*, Argo CD's tracking label
// app.kubernetes.io/instance and its argocd.argoproj.io/* keys. A copy canarykit generates
// from a user's object (a primary, a config copy, a canary Ingress) leaves them out: the tool
// would take the copy for an object of its source, find it missing there and prune it, with
// the traffic it serves.
func GitOpsMark(key string) bool {
	return strings.Contains(key, "toolkit.fluxcd.io") || key == "app.kubernetes.io/instance" || strings.HasPrefix(key, "argocd.argoproj.io/")
}
