package canary_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
)

func fieldErrors(ps []canary.FieldError) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return out
}

// Metadata is checked as the API server checks an object's labels and annotations, bounded,
// and refused where it would override canarykit's own keys.
func TestMetadataProblems(t *testing.T) {
	ok := canary.Metadata{
		Labels: map[string]string{"app.kubernetes.io/part-of": "shop", "linkerd.io/control-plane-ns": "linkerd", "empty": "",
			"Team_1.x": "A-b_c.d"},
		Annotations: map[string]string{"external-dns.alpha.kubernetes.io/hostname": "podinfo.example.com,www.example.com",
			"Service.Beta.Kubernetes.IO/aws-load-balancer-type": "nlb", "note": strings.Repeat("x", 1000)},
	}
	assert.Empty(t, ok.Problems("spec.service.apex"))

	bad := canary.Metadata{
		Labels: map[string]string{"bad key": "v", "UPPER.example.com/x": "v", "ok": "has space", "long": strings.Repeat("v", 64),
			"-dash": "v", canary.LabelManagedBy: "me", "canarykit.dev/target": "x"},
		Annotations: map[string]string{"canarykit.dev/canary": "x", "CanaryKit.dev/x": "y", "x/": "y", "": "v"},
	}
	assert.Equal(t, []string{
		`spec.service.apex.labels.-dash: "-dash": the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
		`spec.service.apex.labels.UPPER.example.com/x: "UPPER.example.com/x": the prefix before '/' must be a lowercase DNS subdomain of at most 253 characters`,
		`spec.service.apex.labels.app.kubernetes.io/managed-by: app.kubernetes.io/managed-by is canarykit's own label (it marks the objects canarykit manages)`,
		`spec.service.apex.labels["bad key"]: "bad key": the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
		`spec.service.apex.labels.canarykit.dev/target: keys under canarykit.dev/ are canarykit's own (they record what it manages)`,
		`spec.service.apex.labels.long: the value must be at most 63 characters, got 64`,
		`spec.service.apex.labels.ok: the value "has space" must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
		`spec.service.apex.annotations[""]: "": the name must not be empty`,
		`spec.service.apex.annotations.CanaryKit.dev/x: keys under canarykit.dev/ are canarykit's own (they record what it manages)`,
		`spec.service.apex.annotations.canarykit.dev/canary: keys under canarykit.dev/ are canarykit's own (they record what it manages)`,
		`spec.service.apex.annotations.x/: "x/": the name must not be empty`,
	}, fieldErrors(bad.Problems("spec.service.apex")))

	many := canary.Metadata{Labels: map[string]string{}, Annotations: map[string]string{}}
	for i := range canary.MaxMetadataEntries + 1 {
		many.Labels[fmt.Sprint("l", i)] = "v"
	}
	many.Annotations["big"] = strings.Repeat("x", canary.MaxMetadataAnnotationBytes)
	assert.Equal(t, []string{
		"apex.labels: at most 64 labels, got 65",
		"apex.annotations: at most 65536 bytes of keys and values, got 65539",
	}, fieldErrors(many.Problems("apex")))

	keys := canary.MetadataKeys{Labels: []string{"ok", "not ok"}, Annotations: []string{"canarykit.dev/status"}}
	assert.Equal(t, []string{
		`u.labels[1]: "not ok": the name must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
		"u.annotations[0]: keys under canarykit.dev/ are canarykit's own (they record what it manages)",
	}, fieldErrors(keys.Problems("u")))
}

// ApplyMetadata sets what is wanted, removes what it set earlier and is no longer wanted,
// keeps unmanaged keys as others set them, and never touches keys it did not write.
func TestApplyMetadata(t *testing.T) {
	want := canary.Metadata{Labels: map[string]string{"team": "a", "tier": "web"}, Annotations: map[string]string{"dns": "a.example.com"}}
	labels, annotations, changed := canary.ApplyMetadata(map[string]string{"app": "podinfo"}, nil, want, canary.MetadataKeys{})
	assert.True(t, changed)
	assert.Equal(t, map[string]string{"app": "podinfo", "team": "a", "tier": "web"}, labels)
	assert.Equal(t, map[string]string{"dns": "a.example.com", canary.AnnotationMetadata: `{"labels":["team","tier"],"annotations":["dns"]}`}, annotations)

	_, _, changed = canary.ApplyMetadata(labels, annotations, want, canary.MetadataKeys{})
	assert.False(t, changed, "written already")

	labels["tier"], labels["theirs"], annotations["theirs"] = "db", "x", "y"
	next := canary.Metadata{Labels: map[string]string{"tier": "web"}}
	labels2, annotations2, changed := canary.ApplyMetadata(labels, annotations, next, canary.MetadataKeys{Labels: []string{"tier"}})
	assert.True(t, changed)
	assert.Equal(t, map[string]string{"app": "podinfo", "tier": "db", "theirs": "x"}, labels2, "team removed; tier unmanaged: theirs kept")
	assert.Equal(t, map[string]string{"theirs": "y", canary.AnnotationMetadata: `{"labels":["tier"]}`}, annotations2)
	assert.Equal(t, "a", labels["team"], "the inputs are not modified")

	labels3, annotations3, changed := canary.ApplyMetadata(labels2, annotations2, canary.Metadata{}, canary.MetadataKeys{Labels: []string{"tier"}})
	assert.True(t, changed)
	assert.Equal(t, labels2, labels3, "an unmanaged key is never removed")
	assert.Equal(t, map[string]string{"theirs": "y"}, annotations3, "the record goes with the last key")

	// a record someone edited to name canarykit's own keys, or that does not parse, removes nothing
	for _, rec := range []string{`{"labels":["app.kubernetes.io/managed-by"]}`, `{"annotations":["canarykit.dev/target"]}`, `not json`} {
		l, a, _ := canary.ApplyMetadata(map[string]string{canary.LabelManagedBy: "canarykit"},
			map[string]string{canary.AnnotationTarget: "podinfo", canary.AnnotationMetadata: rec}, canary.Metadata{}, canary.MetadataKeys{})
		assert.Equal(t, map[string]string{canary.LabelManagedBy: "canarykit"}, l, rec)
		assert.Equal(t, map[string]string{canary.AnnotationTarget: "podinfo"}, a, rec)
	}
}

// Writable keeps what ApplyMetadata may write for a user: canarykit's own keys and keys
// Kubernetes refuses are left out.
func TestMetadataWritable(t *testing.T) {
	m := canary.Metadata{
		Labels: map[string]string{"team": "web", canary.LabelManagedBy: "Helm", "bad key": "x", "long": strings.Repeat("v", 64)},
		Annotations: map[string]string{"nginx.ingress.kubernetes.io/auth-url": "https://a.example/", canary.AnnotationTarget: "podinfo",
			"CanaryKit.dev/x": "y", "example.com/ok": ""},
	}
	assert.Equal(t, canary.Metadata{Labels: map[string]string{"team": "web"},
		Annotations: map[string]string{"nginx.ingress.kubernetes.io/auth-url": "https://a.example/", "example.com/ok": ""}}, m.Writable())
	assert.Empty(t, m.Writable().Problems("x"))
}

// ApplyMetadata reads back the record it wrote however many keys it lists: a Writable copy of
// a user's object is not bounded as a spec's Metadata is, and a record of more than 64 keys
// was read as none, so nothing it listed was ever removed.
func TestApplyMetadataReadsBackARecordOfManyKeys(t *testing.T) {
	want := canary.Metadata{Labels: map[string]string{}, Annotations: map[string]string{}}
	for i := range 100 {
		want.Labels[fmt.Sprintf("l%03d", i)] = "x"
		want.Annotations[fmt.Sprintf("example.com/a%03d", i)] = "x"
	}
	labels, annotations, _ := canary.ApplyMetadata(nil, nil, want.Writable(), canary.MetadataKeys{})
	delete(want.Labels, "l000")
	delete(want.Annotations, "example.com/a000")
	labels, annotations, changed := canary.ApplyMetadata(labels, annotations, want, canary.MetadataKeys{})
	assert.True(t, changed)
	assert.NotContains(t, labels, "l000")
	assert.NotContains(t, annotations, "example.com/a000")
	assert.Len(t, labels, 99)
	assert.Len(t, annotations, 100, "99 and the record")
}
