package main

import "reflect"

// equalExceptStatus is how the controller told a status write when its informer cached
// Canaries as unstructured JSON: the two versions compared map by map, but for the status,
// the resourceVersion and the managedFields. BenchmarkCanaryEchoUnstructured measures it.
func equalExceptStatus(a, b map[string]any) bool {
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
		if !ok || !reflect.DeepEqual(v, w) {
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
