package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/runtime"
)

// An update that only writes the status (the driver's step) is told from every edit that
// needs the Canary loaded again: spec, labels, annotations, finalizers, deletion.
func TestStatusOnly(t *testing.T) {
	base := map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "podinfo", "namespace": "ns", "resourceVersion": "7", "generation": int64(1),
			"labels": map[string]any{"app": "podinfo"}, "managedFields": []any{map[string]any{"manager": "kubectl"}}},
		"spec":   map[string]any{"analysis": map[string]any{"interval": "10s", "stepWeight": int64(10)}},
		"status": map[string]any{"phase": "Progressing", "canaryWeight": int64(10)},
	}
	edited := func(fn func(obj map[string]any)) map[string]any {
		obj := runtime.DeepCopyJSON(base)
		fn(obj)
		return obj
	}
	meta := func(obj map[string]any) map[string]any { return obj["metadata"].(map[string]any) }

	assert.True(t, statusOnly(base, edited(func(obj map[string]any) {
		obj["status"].(map[string]any)["canaryWeight"] = int64(20)
		meta(obj)["resourceVersion"] = "8"
		meta(obj)["managedFields"] = []any{map[string]any{"manager": "canarykit"}}
	})), "a status write")
	assert.True(t, statusOnly(base, edited(func(obj map[string]any) { delete(obj, "status") })))
	for name, fn := range map[string]func(obj map[string]any){
		"spec": func(obj map[string]any) {
			obj["spec"].(map[string]any)["analysis"].(map[string]any)["stepWeight"] = int64(20)
		},
		"label":      func(obj map[string]any) { meta(obj)["labels"] = map[string]any{"app": "other"} },
		"annotation": func(obj map[string]any) { meta(obj)["annotations"] = map[string]any{"a": "b"} },
		"finalizer":  func(obj map[string]any) { meta(obj)["finalizers"] = []any{Finalizer} },
		"deletion":   func(obj map[string]any) { meta(obj)["deletionTimestamp"] = "2026-01-02T03:04:05Z" },
		"generation": func(obj map[string]any) { meta(obj)["generation"] = int64(2) },
		"empty key":  func(obj map[string]any) { meta(obj)["labels"].(map[string]any)[""] = "x" },
		"new field":  func(obj map[string]any) { obj["spec"].(map[string]any)["skipAnalysis"] = true },
		"list entry": func(obj map[string]any) { meta(obj)["finalizers"] = []any{} },
	} {
		assert.False(t, statusOnly(base, edited(fn)), name)
	}
}

// BenchmarkStatusOnly is the check of every Canary update: a status write of a Canary as the
// API server sends it (kube/driver/testdata/canary-object.json).
func BenchmarkStatusOnly(b *testing.B) {
	raw, err := os.ReadFile("../../kube/driver/testdata/canary-object.json")
	if err != nil {
		b.Fatal(err)
	}
	var old map[string]any
	if err := json.Unmarshal(raw, &old); err != nil {
		b.Fatal(err)
	}
	cur := runtime.DeepCopyJSON(old)
	cur["status"].(map[string]any)["canaryWeight"] = 20.0
	cur["metadata"].(map[string]any)["resourceVersion"] = "1235"
	b.ReportAllocs()
	for b.Loop() {
		if !statusOnly(old, cur) {
			b.Fatal("a status write not seen as one")
		}
	}
}
