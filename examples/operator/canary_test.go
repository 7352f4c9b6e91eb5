package main

import (
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCanaryFromAnnotations(t *testing.T) {
	d := deployment("alpha", true)
	d.Namespace = "shop"
	d.Annotations[AnnotationAutoscaler] = "alpha"
	m, err := canaryFor(d)
	require.NoError(t, err)
	assert.Equal(t, canary.Target{Namespace: "shop", Name: "alpha"}, m.Target)
	assert.Equal(t, 2, m.Spec.Iterations)
	assert.Equal(t, time.Second, m.Spec.Interval)
	assert.Equal(t, int32(8080), m.Workload.Port)
	assert.Equal(t, "alpha", m.Workload.Autoscaler)

	delete(d.Annotations, AnnotationPort)
	m, err = canaryFor(d)
	require.NoError(t, err)
	assert.Equal(t, int32(80), m.Workload.Port, "the default port")

	d.Annotations[AnnotationAnalysis] = "stepWeight: 0\n"
	_, err = canaryFor(d)
	assert.ErrorContains(t, err, "analysis.stepWeight: must be 1..100, got 0")
}

// Annotations are values: text that would retarget a Canary spliced into a manifest is a bad
// annotation, reported as such, or stays a string inside the analysis; the target is always
// the annotated Deployment.
func TestCanaryFromHostileAnnotations(t *testing.T) {
	const retarget = "53}\nmetadata: {name: coredns, namespace: kube-system}\nspec: {targetRef: {apiVersion: apps/v1, kind: Deployment, name: coredns}}"
	for name, c := range map[string]struct {
		annotation, value, err string
	}{
		"port":          {AnnotationPort, retarget, `annotation canarykit.dev/port: want a port number 1..65535, got "53}\n`},
		"port 0":        {AnnotationPort, "0", `want a port number 1..65535, got "0"`},
		"port too big":  {AnnotationPort, "65536", `want a port number 1..65535, got "65536"`},
		"analysis":      {AnnotationAnalysis, "interval: 1s}\n" + retarget[4:], "spec.analysis.metadata"},
		"analysis list": {AnnotationAnalysis, "- " + retarget, "annotation canarykit.dev/analysis: not a YAML mapping"},
		"analysis text": {AnnotationAnalysis, retarget, "annotation canarykit.dev/analysis: not a YAML mapping"},
		"autoscaler":    {AnnotationAutoscaler, "web\nmetadata: {name: coredns}", "annotation canarykit.dev/autoscaler: not an object name"},
	} {
		d := deployment("web", true)
		d.Namespace = "shop"
		d.Annotations[c.annotation] = c.value
		_, err := canaryFor(d)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), c.err, name)
	}

	// the same text inside a value of the analysis stays a value
	d := deployment("web", true)
	d.Namespace = "shop"
	d.Annotations[AnnotationAnalysis] += "webhooks:\n- name: smoke\n  url: http://tester/\n  metadata: {cmd: " + jsonQuote(retarget) + "}\n"
	m, err := canaryFor(d)
	require.NoError(t, err)
	assert.Equal(t, canary.Target{Namespace: "shop", Name: "web"}, m.Target)
	assert.Equal(t, "web", m.Name)
	assert.Equal(t, retarget, m.Spec.Webhooks[0].Metadata["cmd"])
}

func jsonQuote(s string) string {
	out := []byte{'"'}
	for _, r := range s {
		switch r {
		case '\n':
			out = append(out, '\\', 'n')
		case '"', '\\':
			out = append(out, '\\', byte(r))
		default:
			out = append(out, string(r)...)
		}
	}
	return string(append(out, '"'))
}
