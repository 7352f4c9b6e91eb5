package kube

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// revisionMemo remembers a Workload's last revision and the checksums of the configs it read
// last, so that a read which finds the same objects in the caches (every tick of a release,
// but the few after a change) encodes nothing. It relies on two rules: the caches never modify
// an object in place (a change arrives as a new object), and the API server gives a
// Deployment a new generation for every change of its spec, the pod template included.
type revisionMemo struct {
	mu       sync.Mutex
	template templateKey
	configs  []string       // "Kind/name=checksum" of the tracked configs, as revision hashes them
	revision string         // "" until the first revision
	sums     map[any]string // config object read last → its checksum
}

// templateKey identifies a Deployment's pod template: by UID and generation when the object
// comes from an API server, else (objects made in code, which may carry neither) by the
// template's address.
type templateKey struct {
	uid        types.UID
	generation int64
	template   *corev1.PodTemplateSpec
}

func keyOf(d app) templateKey {
	if d.UID != "" && d.Generation > 0 {
		return templateKey{uid: d.UID, generation: d.Generation}
	}
	return templateKey{template: d.Template}
}

// revisionOf is revision(d.revisionTemplate(), tracked), computed again only when d's template or a
// tracked config's checksum changed since the last call.
func (m *revisionMemo) revisionOf(d app, tracked []trackedConfig) string {
	configs := make([]string, len(tracked))
	for i, tc := range tracked {
		configs[i] = tc.ref.String() + "=" + tc.checksum
	}
	key := keyOf(d)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revision != "" && m.template == key && slices.Equal(m.configs, configs) {
		return m.revision
	}
	m.template, m.configs, m.revision = key, configs, revisionOfParts(d.revisionTemplate(), configs)
	return m.revision
}

// checksum returns the checksum of a config object read from the caches, computing it only
// for an object not seen on the last read; m may be nil (no memo).
func (m *revisionMemo) checksum(obj any, compute func() string) string {
	if m == nil {
		return compute()
	}
	m.mu.Lock()
	s, ok := m.sums[obj]
	m.mu.Unlock()
	if ok {
		return s
	}
	s = compute()
	m.mu.Lock()
	if m.sums == nil {
		m.sums = map[any]string{}
	}
	m.sums[obj] = s
	m.mu.Unlock()
	return s
}

// keepChecksums forgets the checksums of objects other than objs (those of the last read), so
// that the memo holds no more than one template's configs; m may be nil.
func (m *revisionMemo) keepChecksums(objs []any) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for obj := range m.sums {
		if !slices.Contains(objs, obj) {
			delete(m.sums, obj)
		}
	}
}
