package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// decodeCanary decodes a Canary's JSON as the controller's informer does (the CanaryClient's
// decoder).
func decodeCanary(tb testing.TB, raw []byte) *canaryObject {
	tb.Helper()
	obj, err := runtime.Decode(canaryDecoder(tb), raw)
	require.NoError(tb, err)
	return obj.(*canaryObject)
}

// canaryDecoder is the decoder a CanaryClient's answers go through.
func canaryDecoder(tb testing.TB) runtime.Decoder {
	info, ok := runtime.SerializerInfoForMediaType(canaryCodecs{}.SupportedMediaTypes(), runtime.ContentTypeJSON)
	require.True(tb, ok)
	return canaryCodecs{}.DecoderToVersion(info.Serializer, canaryGV)
}

// canaryJSON encodes a Canary given as JSON values.
func canaryJSON(tb testing.TB, obj map[string]any) []byte {
	tb.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(tb, err)
	return raw
}

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
	edited := func(fn func(obj map[string]any)) *canaryObject {
		obj := runtime.DeepCopyJSON(base)
		fn(obj)
		return decodeCanary(t, canaryJSON(t, obj))
	}
	meta := func(obj map[string]any) map[string]any { return obj["metadata"].(map[string]any) }
	old := decodeCanary(t, canaryJSON(t, base))

	assert.True(t, statusOnly(old, edited(func(obj map[string]any) {
		obj["status"].(map[string]any)["canaryWeight"] = int64(20)
		meta(obj)["resourceVersion"] = "8"
		meta(obj)["managedFields"] = []any{map[string]any{"manager": "canarykit"}}
	})), "a status write")
	assert.True(t, statusOnly(old, edited(func(obj map[string]any) { delete(obj, "status") })))
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
		"no spec":    func(obj map[string]any) { delete(obj, "spec") },
	} {
		assert.False(t, statusOnly(old, edited(fn)), name)
	}
}

// The informer keeps a Canary without its managedFields and its status, the status's phase,
// weight and failed checks read; the spec loads as the whole object would.
func TestDecodedCanaryLoadsAsTheObject(t *testing.T) {
	raw, err := os.ReadFile("../../kube/driver/testdata/canary-object.json")
	require.NoError(t, err)
	o := decodeCanary(t, raw)
	assert.Nil(t, o.ObjectMeta.ManagedFields, "the managedFields are skipped")
	assert.True(t, o.Status.ok)
	assert.Equal(t, canary.Status{Phase: canary.PhaseProgressing, CanaryWeight: 10}, o.Status.st)
	assert.Equal(t, "ns/podinfo", o.Namespace+"/"+o.Name)

	got, err := loadCanary(o)
	require.NoError(t, err)
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(raw))
	want, err := flagger.CanaryFromObject(u.Object)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	copied := o.DeepCopyObject().(*canaryObject)
	copied.Spec[0], copied.Labels = ' ', map[string]string{"a": "b"}
	assert.Equal(t, byte('{'), o.Spec[0], "a deep copy shares no bytes")
	assert.Nil(t, o.Labels)
}

// canaryEcho is a status write's echo as a watch event carries it: the object of
// kube/driver/testdata/canary-object.json with a new weight and resourceVersion.
// Both are encoded as the API server encodes them (compact, keys sorted).
func canaryEcho(b *testing.B) (old, echo []byte) {
	raw, err := os.ReadFile("../../kube/driver/testdata/canary-object.json")
	require.NoError(b, err)
	var obj map[string]any
	require.NoError(b, json.Unmarshal(raw, &obj))
	old = canaryJSON(b, obj)
	obj["status"].(map[string]any)["canaryWeight"] = 20
	obj["metadata"].(map[string]any)["resourceVersion"] = "1235"
	return old, canaryJSON(b, obj)
}

// BenchmarkCanaryEcho is what the controller's informer does with the echo of each status
// write: decode it (its managedFields skipped) and tell it is a status write.
func BenchmarkCanaryEcho(b *testing.B) {
	oldRaw, echo := canaryEcho(b)
	old := decodeCanary(b, oldRaw)
	dec := canaryDecoder(b)
	b.ReportAllocs()
	for b.Loop() {
		obj, err := runtime.Decode(dec, echo)
		if err != nil {
			b.Fatal(err)
		}
		if !statusOnly(old, obj.(*canaryObject)) {
			b.Fatal("a status write not seen as one")
		}
	}
}

// BenchmarkCanaryEchoUnstructured is the same with the dynamic informer the controller had
// before: the echo decoded as unstructured JSON, its managedFields dropped, and compared with
// the cached version map by map. The baseline of BenchmarkCanaryEcho.
func BenchmarkCanaryEchoUnstructured(b *testing.B) {
	oldRaw, echo := canaryEcho(b)
	old := &unstructured.Unstructured{}
	require.NoError(b, old.UnmarshalJSON(oldRaw))
	unstructured.RemoveNestedField(old.Object, "metadata", "managedFields")
	b.ReportAllocs()
	for b.Loop() {
		obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, echo)
		if err != nil {
			b.Fatal(err)
		}
		u := obj.(*unstructured.Unstructured)
		u.SetManagedFields(nil)
		if !equalExceptStatus(old.Object, u.Object) {
			b.Fatal("a status write not seen as one")
		}
	}
}

// The CanaryClient's decoder takes what a list or watch of Canaries answers: a Canary (a
// watch's bookmark too), a list, an error Status, and a status that is not one leaves the
// Canary readable.
func TestCanaryCodecDecodesWhatTheAPIServerSends(t *testing.T) {
	dec := canaryDecoder(t)
	obj, err := runtime.Decode(dec, []byte(`{"apiVersion":"flagger.app/v1beta1","kind":"Canary","metadata":{"name":"a","namespace":"ns","resourceVersion":"5"},"spec":{"x":1},"status":"odd"}`))
	require.NoError(t, err)
	c := obj.(*canaryObject)
	assert.Equal(t, "a", c.Name)
	assert.JSONEq(t, `{"x":1}`, string(c.Spec))
	assert.False(t, c.Status.ok)

	obj, err = runtime.Decode(dec, []byte(`{"kind":"Canary","apiVersion":"flagger.app/v1beta1","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}`))
	require.NoError(t, err)
	assert.Equal(t, "9", obj.(*canaryObject).ResourceVersion, "a bookmark")

	obj, err = runtime.Decode(dec, []byte(`{"apiVersion":"flagger.app/v1beta1","kind":"CanaryList","metadata":{"resourceVersion":"12","continue":"c"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"},"status":{"phase":"Succeeded"}}]}`))
	require.NoError(t, err)
	list := obj.(*canaryList)
	assert.Equal(t, "c", list.Continue)
	require.Len(t, list.Items, 2)
	assert.Equal(t, canary.Status{Phase: canary.PhaseSucceeded}, list.Items[1].Status.st)

	obj, err = runtime.Decode(dec, []byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}`))
	require.NoError(t, err)
	st := obj.(*metav1.Status)
	assert.Equal(t, metav1.StatusReasonExpired, st.Reason)
	assert.Equal(t, int32(410), st.Code)

	_, err = runtime.Decode(dec, []byte(`{"kind":"Deployment","apiVersion":"apps/v1"}`))
	assert.ErrorContains(t, err, `unexpected kind "Deployment"`)
	_, err = runtime.Decode(dec, []byte(`{"kind":"Canary","metadata":{"name":5}}`))
	assert.Error(t, err, "metadata of another type")
}
