package main

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/meta"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// restored takes an update that changed only the status of a Canary driven here (the
// driver's own write, one per step): the self-metrics follow it, and the Canary is neither
// loaded nor applied again. Any other update is sync's.
func (c *Controller) restored(old, obj any) bool {
	prev, ok := old.(*unstructured.Unstructured)
	u, ok2 := obj.(*unstructured.Unstructured)
	if !ok || !ok2 || !statusOnly(prev.Object, u.Object) {
		return false
	}
	key := u.GetNamespace() + "/" + u.GetName()
	c.mu.Lock()
	cn := c.last[key]
	_, warned := c.warned[key]
	_, moving := c.moving[key]
	ending := c.ending[key]
	c.mu.Unlock()
	if cn == nil || warned || moving || ending || c.targets.Canary(key) == nil {
		return false
	}
	if st, ok := savedStatus(u); ok && c.Restore != nil {
		c.Restore(cn.Target, st)
	}
	return true
}

// statusOnly reports whether two versions of an object differ at most in their status,
// resourceVersion and managedFields.
func statusOnly(a, b map[string]any) bool {
	ma, _ := a["metadata"].(map[string]any)
	mb, _ := b["metadata"].(map[string]any)
	return equalExcept(a, b, "status", "metadata") && equalExcept(ma, mb, "resourceVersion", "managedFields")
}

// equalExcept reports whether a and b hold equal JSON values under every key but skip1 and
// skip2.
func equalExcept(a, b map[string]any, skip1, skip2 string) bool {
	n := 0
	for k, v := range a {
		if k == skip1 || k == skip2 {
			continue
		}
		w, ok := b[k]
		if !ok || !equalJSON(v, w) {
			return false
		}
		n++
	}
	for k := range b {
		if k != skip1 && k != skip2 {
			n--
		}
	}
	return n == 0
}

// equalJSON reports whether two decoded JSON values are equal.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case string, bool, int64, float64, nil:
		return a == b
	}
	return reflect.DeepEqual(a, b) // other types (json.Number...)
}

// dropManagedFields is the informers' transform: no handler reads managedFields, and they are
// a large share of every cached object. An update of a cached object carries none, and the
// API server keeps the live object's.
func dropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
