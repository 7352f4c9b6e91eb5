package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seed is a manifest of kube/flagger's testdata.
func seed(name string) string { return filepath.Join("..", "..", "kube", "flagger", "testdata", name) }

func writeFile(t *testing.T, name, content string) string {
	file := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	return file
}

// lines splits output into its lines.
func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestValidateSeedsWithoutACluster(t *testing.T) {
	brokenKubeconfig(t) // validate reads none: a kubeconfig that cannot be read changes nothing
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-f", seed("canary-002-linkerd-canary.yaml")}, []string{
			seed("canary-002-linkerd-canary.yaml") + ": note: spec.autoscalerRef.apiVersion \"autoscaling/v2beta2\" is read as autoscaling/v2",
			"canaryctl: " + seed("canary-002-linkerd-canary.yaml") + ": Canary test/podinfo would run (Canary strategy)",
		}},
		// the A/B seed refers to two MetricTemplates: not given, they are listed, not guessed
		{[]string{"-f", seed("canary-003-ab-testing.yaml")}, []string{
			seed("canary-003-ab-testing.yaml") + ": spec.analysis.metrics[0].templateRef: not given: MetricTemplate istio-system/error-rate (read from the cluster at run time)",
			seed("canary-003-ab-testing.yaml") + ": spec.analysis.metrics[1].templateRef: not given: MetricTemplate istio-system/latency (read from the cluster at run time)",
			"canaryctl: " + seed("canary-003-ab-testing.yaml") + ": Canary prod/frontend would run (ABTesting strategy; 2 objects from the cluster at run time)",
		}},
		// given, they are resolved; the Secret a template's credentials are in is the cluster's
		{[]string{"-t", seed("metric-templates-003.yaml"), "-f", seed("canary-003-ab-testing.yaml")}, []string{
			seed("canary-003-ab-testing.yaml") + ": spec.analysis.metrics[1].templateRef: read from the cluster at run time: Secret istio-system/prom-auth (spec.provider.secretRef of MetricTemplate istio-system/latency)",
			"canaryctl: " + seed("canary-003-ab-testing.yaml") + ": Canary prod/frontend would run (ABTesting strategy; 1 object from the cluster at run time)",
		}},
	} {
		code, stdout, stderr := canaryctl(t, append([]string{"validate"}, tc.args...)...)
		assert.Equal(t, exitPromoted, code, "%v: %s%s", tc.args, stdout, stderr)
		assert.Equal(t, tc.want, lines(stdout), "%v", tc.args)
		assert.Empty(t, stderr, "%v", tc.args)
	}
}

// broken has a problem of every kind validate finds without a cluster besides loading: a
// template whose query does not render with the Canary's variables, a templated metric without
// a threshold, a built-in check that does not exist, and a router that cannot split traffic
// for a weighted canary. One template and the alert's provider are not given.
const broken = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
      - {name: errors, templateRef: {name: errors, namespace: ops}, thresholdRange: {max: 1}}
      - {name: latency, templateRef: {name: latency, namespace: ops}}
      - {name: request-succes-rate, thresholdRange: {min: 99}}
    alerts:
      - {name: on-call, severity: warn, providerRef: {name: on-call}}
`

const errorsTemplate = `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ops}
spec:
  provider: {type: prometheus, address: "http://prometheus.ops:9090"}
  query: sum(rate(http_errors{namespace="{{ namespace }}", code="{{ variables.code }}"}[{{ interval }}]))
`

func TestValidateReportsEveryProblemByPath(t *testing.T) {
	brokenKubeconfig(t)
	canaryFile := writeFile(t, "canary.yaml", broken)
	templates := writeFile(t, "templates.yaml", errorsTemplate)
	code, stdout, stderr := canaryctl(t, "validate", "-f", canaryFile, "-t", templates)
	assert.Equal(t, exitRolledBack, code, stderr)
	assert.Empty(t, stderr)
	out := lines(stdout)
	require.Len(t, out, 6, stdout)
	// text/template's own words, which vary with Go versions, are between these
	assert.True(t, strings.HasPrefix(out[2], canaryFile+": spec.analysis.metrics[0].templateRef: MetricTemplate ops/errors spec.query: render query template: "), out[2])
	assert.True(t, strings.HasSuffix(out[2], `map has no entry for key "code"`), out[2])
	out[2] = "the template line"
	assert.Equal(t, []string{
		canaryFile + ": spec.analysis.metrics[1].templateRef: not given: MetricTemplate ops/latency (read from the cluster at run time)",
		canaryFile + ": spec.analysis.alerts[0].providerRef: not given: AlertProvider test/on-call (read from the cluster at run time)",
		"the template line",
		canaryFile + ": spec.analysis.metrics[1].thresholdRange: must set min or max",
		canaryFile + `: spec.analysis.metrics[2].query: required: "request-succes-rate" is not a built-in check (config.Builtins) or a checker (config.Checkers)`,
		"canaryctl: " + canaryFile + ": 3 problems: it would not run",
	}, out)

	// a router that cannot split traffic is refused for a weighted canary, by path
	blueGreenOnly := writeFile(t, "kubernetes.yaml", strings.Replace(broken, "spec:\n", "spec:\n  provider: kubernetes\n", 1))
	code, stdout, _ = canaryctl(t, "validate", "-f", blueGreenOnly, "-t", templates)
	assert.Equal(t, exitRolledBack, code)
	assert.Contains(t, stdout, blueGreenOnly+": spec.provider: kubernetes switches all traffic at once (blue/green)")

	// the fixed manifest would run; what the files do not hold is still listed
	fixed := strings.NewReplacer("provider: kubernetes", "provider: linkerd", "request-succes-rate", "request-success-rate",
		"namespace: ops}}", "namespace: ops}, thresholdRange: {max: 500}}",
		"      - {name: errors, templateRef: {name: errors, namespace: ops}, thresholdRange: {max: 1}}",
		"      - {name: errors, templateRef: {name: errors, namespace: ops}, thresholdRange: {max: 1}, templateVariables: {code: \"500\"}}").Replace(broken)
	require.NoError(t, os.WriteFile(canaryFile, []byte(fixed), 0o600))
	code, stdout, stderr = canaryctl(t, "validate", "-f", canaryFile, "-t", templates)
	assert.Equal(t, exitPromoted, code, stdout+stderr)
	assert.Equal(t, []string{
		canaryFile + ": spec.analysis.metrics[1].templateRef: not given: MetricTemplate ops/latency (read from the cluster at run time)",
		canaryFile + ": spec.analysis.alerts[0].providerRef: not given: AlertProvider test/on-call (read from the cluster at run time)",
		"canaryctl: " + canaryFile + ": Canary test/podinfo would run (Canary strategy; 2 objects from the cluster at run time)",
	}, lines(stdout))
}

func TestValidateReportsTheManifestAndTheObjectFiles(t *testing.T) {
	brokenKubeconfig(t)
	canaryFile := writeFile(t, "canary.yaml", `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  provider: appmesh
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1m, stepWeight: 10, maxWeight: 50, sessionAffinity: {cookieName: x, cookiename: y}}
`)
	objects := writeFile(t, "objects.yaml", "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: errors, namespace: ops}\n"+
		"spec: {provider: {type: cloudwatch}, query: x}\n---\nkind: Service\n")
	code, stdout, stderr := canaryctl(t, "validate", "-f", canaryFile, "-t", objects)
	assert.Equal(t, exitRolledBack, code, stderr)
	// each problem by file and field, in order (the messages are kube/flagger's)
	want := []string{
		canaryFile + ": spec.analysis.sessionAffinity.cookiename: ",
		canaryFile + ": spec.provider: ",
		objects + ": document 1: spec.provider.type: ",
		objects + ": document 1: spec.provider.address: ",
		objects + ": document 2: kind: ",
		"canaryctl: " + canaryFile + ": 5 problems: it would not run",
	}
	out := lines(stdout)
	require.Len(t, out, len(want), stdout)
	for i, w := range want {
		assert.True(t, strings.HasPrefix(out[i], w), "line %d: want %q..., got %q", i, w, out[i])
	}
	assert.Contains(t, out[1], "appmesh")
	assert.Contains(t, out[2], "cloudwatch")

	// an object given twice, and a manifest fine on its own: its references are not checked
	templates := writeFile(t, "templates.yaml", errorsTemplate)
	code, stdout, _ = canaryctl(t, "validate", "-f", seed("canary-002-linkerd-canary.yaml"), "-t", templates, "-t", templates)
	assert.Equal(t, exitRolledBack, code)
	assert.Contains(t, lines(stdout), templates+": given twice: MetricTemplate ops/errors")
	assert.Contains(t, lines(stdout), seed("canary-002-linkerd-canary.yaml")+": references and analysis not checked: the -t files have problems")

	// a file that cannot be read is a usage error
	code, stdout, stderr = canaryctl(t, "validate", "-f", filepath.Join(t.TempDir(), "missing.yaml"))
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "missing.yaml: no such file or directory")
}

// A Canary with canarykit's sequential check (an annotation Flagger ignores) would run: the
// check the annotation adds is bound by the driver, not a missing built-in.
func TestValidateSequentialCheckAnnotation(t *testing.T) {
	brokenKubeconfig(t)
	annotated := strings.Replace(broken, "metadata: {name: podinfo, namespace: test}",
		"metadata: {name: podinfo, namespace: test, annotations: {canarykit.dev/sequential-check: \"{alpha: 0.005}\", canarykit.dev/dry-run-metrics: request-success-rate}}", 1)
	annotated = strings.NewReplacer("      - {name: errors, templateRef: {name: errors, namespace: ops}, thresholdRange: {max: 1}}\n", "",
		"      - {name: latency, templateRef: {name: latency, namespace: ops}}\n", "", "request-succes-rate", "request-success-rate",
		"    alerts:\n      - {name: on-call, severity: warn, providerRef: {name: on-call}}\n", "").Replace(annotated)
	file := writeFile(t, "canary.yaml", annotated)
	code, stdout, stderr := canaryctl(t, "validate", "-f", file)
	assert.Equal(t, exitPromoted, code, stdout+stderr)
	assert.Equal(t, []string{"canaryctl: " + file + ": Canary test/podinfo would run (Canary strategy)"}, lines(stdout))

	bad := writeFile(t, "bad.yaml", strings.Replace(annotated, "{alpha: 0.005}", "{alpha: 2}", 1))
	code, stdout, _ = canaryctl(t, "validate", "-f", bad)
	assert.Equal(t, exitRolledBack, code)
	assert.Contains(t, stdout, bad+": metadata.annotations.canarykit.dev/sequential-check.alpha: must be in (0, 0.5], got 2")
}
