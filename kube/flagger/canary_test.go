package flagger_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seeds' manifests are kept verbatim in testdata; when the project's shared seeds are
// beside the checkout, the copies must not have drifted.
func TestSeedCopiesAreVerbatim(t *testing.T) {
	shared, _ := filepath.Glob("../../shared/seeds/manifests/*.yaml")
	if len(shared) == 0 {
		// a drift check only: the loader's tests use the copies in testdata
		t.Skip("../shared/seeds/manifests is not beside this checkout; nothing to compare the copies with")
	}
	for _, p := range shared {
		want, err := os.ReadFile(p)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join("testdata", filepath.Base(p)))
		require.NoError(t, err, "copy of %s", p)
		assert.Equal(t, string(want), string(got), filepath.Base(p))
	}
}

func load(t *testing.T, name string) *flagger.Canary {
	t.Helper()
	return loadTestdata(t, name, flagger.LoadCanary)
}

// loadTestdata reads testdata/name with a loader that must accept it.
func loadTestdata[T any](t *testing.T, name string, loader func([]byte) (T, error)) T {
	t.Helper()
	v, err := loader(readTestdata(t, name))
	require.NoError(t, err, name)
	return v
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

func TestLoadSeedManifests(t *testing.T) {
	want := canary.Spec{
		Interval: 30 * time.Second, Threshold: 5, MaxWeight: 50, StepWeight: 5, ProgressDeadline: 60 * time.Second,
		Metrics: []canary.Metric{
			{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99), Interval: time.Minute},
			{Name: "request-duration", ThresholdRange: canary.AtMost(500), Interval: 30 * time.Second},
		},
		Webhooks: []canary.Webhook{
			{Name: "acceptance-test", Type: canary.HookPreRollout, URL: "http://flagger-loadtester.test/", Timeout: 30 * time.Second,
				Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"}},
			{Name: "load-test", Type: canary.HookRollout, URL: "http://flagger-loadtester.test/",
				Metadata: map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"}},
		},
	}
	for _, name := range []string{"canary-000-flagger-linkerd.yaml", "canary-002-linkerd-canary.yaml", "canary-004-v1alpha3-canaryAnalysis.yaml"} {
		t.Run(name, func(t *testing.T) {
			m := load(t, name)
			assert.Equal(t, canary.Target{Namespace: "test", Name: "podinfo"}, m.Target)
			assert.Equal(t, want, m.Spec)
			assert.Equal(t, flagger.Workload{Port: 9898, TargetPort: "9898", Autoscaler: "podinfo"}, m.Workload)
			assert.Contains(t, m.Notes[0], `spec.autoscalerRef.apiVersion "autoscaling/v2beta`)
		})
	}
	legacy := load(t, "canary-004-v1alpha3-canaryAnalysis.yaml")
	assert.Contains(t, legacy.Notes, "spec.canaryAnalysis.metrics[0]: legacy threshold 99 read as thresholdRange >= 99")
	assert.Contains(t, legacy.Notes, "spec.canaryAnalysis.metrics[1]: legacy threshold 500 read as thresholdRange <= 500")

	// with a thresholdRange as well, Flagger checks the range and not the scalar
	both, err := flagger.LoadCanary([]byte(strings.Replace(string(readTestdata(t, "canary-004-v1alpha3-canaryAnalysis.yaml")),
		"threshold: 99", "threshold: 99\n      thresholdRange: {min: 50}", 1)))
	require.NoError(t, err)
	assert.Equal(t, canary.AtLeast(50), both.Spec.Metrics[0].ThresholdRange)
	assert.Contains(t, both.Notes, "spec.canaryAnalysis.metrics[0]: legacy threshold 99 not used: thresholdRange >= 50 is set")

	ab := load(t, "canary-003-ab-testing.yaml")
	assert.Equal(t, canary.StrategyABTesting, ab.Spec.Strategy())
	assert.Equal(t, 12, ab.Spec.Iterations)
	assert.Equal(t, []canary.Match{
		{Headers: map[string]canary.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}},
		{Headers: map[string]canary.StringMatch{"cookie": {Regex: "^(.*?;)?(type=insider)(;.*)?$"}}},
	}, ab.Spec.Match)
}

func TestLoadReportsEveryUnsupportedField(t *testing.T) {
	_, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: StatefulSet, name: podinfo}
  ingressRef: {name: Podinfo}
  service: {port: 9898, gateways: [public], portDiscovery: true}
  analysis:
    interval: 1 minute
    stepWeight: 10
    sessionAffinity: {cookieName: flagger-cookie}
    alerts: [{name: slack}]
    metrics:
      - name: errors
        templateRef: {name: errors}
        thresholdRange: {max: 1}
        threshold: 2
      - name: latency
        query: histogram_quantile(0.99, x)
        thresholdRange: {max: 500}
        colour: blue
    match:
      - gateways: [mesh]
        headers: {x-canary: {exact: "yes"}}
  analisys: {}
`))
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	var ve *canary.ValidationError
	require.True(t, errors.As(err, &ve))
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Error())
	}
	assert.ElementsMatch(t, []string{
		`spec.targetRef.kind: canarykit drives Deployments and DaemonSets; got "StatefulSet"`,
		`spec.analysis.interval: must be a duration like 30s or 1m, got "1 minute"`,
		"spec.analysis.match[0].gateways: not supported by canarykit yet",
		"spec.analysis.metrics[1].colour: unknown field (not a Flagger Canary field canarykit knows)",
		"spec.analysis.alerts[0].providerRef.name: required",
		`spec.ingressRef.name: "Podinfo" is not a valid Kubernetes name (lowercase RFC 1123)`,
		"spec.analisys: unknown field (not a Flagger Canary field canarykit knows)",
	}, got)
}

func TestLoadValidatesTheSpec(t *testing.T) {
	_, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 30s, stepWeight: 0, maxWeight: 120}
`))
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "analysis.stepWeight: must be 1..100, got 0")
	assert.ErrorContains(t, err, "analysis.maxWeight: must be 1..100, got 120")

	// the engine's problems are at the manifest's paths (the legacy section's too)
	_, err = flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1alpha3
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  canaryAnalysis: {interval: 30s, stepWeight: 10, iterations: 3}
`))
	assert.ElementsMatch(t, []string{
		"spec.canaryAnalysis.stepWeight: not used with analysis.iterations (blue/green or A/B testing); set one of them",
	}, problems(t, err))

	// another kind is refused as a whole, not field by field
	_, err = flagger.LoadCanary([]byte("apiVersion: v1\nkind: Pod\nspec: {containers: []}\n"))
	assert.Equal(t, []string{`kind: must be Canary, got "Pod"`}, problems(t, err))
	_, err = flagger.LoadCanary([]byte("apiVersion: flagger.app/v1\nkind: Canary\nmetadata: {name: podinfo}\nspec: {targetRef: {kind: Deployment, name: podinfo}, service: {port: 80}, analysis: {iterations: 2}}\n"))
	assert.Equal(t, []string{`apiVersion: must be flagger.app/v1beta1 (or the legacy v1alpha3), got "flagger.app/v1"`}, problems(t, err))
	_, err = flagger.LoadCanary([]byte(":"))
	assert.ErrorContains(t, err, "not valid YAML")
}

// The Services canarykit creates are named after spec.service.name, or the target's name
// without it: a name no Service can have is refused at load, at its field, so nothing reaches
// the cluster.
func TestLoadRefusesNamesServicesCannotHave(t *testing.T) {
	load := func(target, service string) error {
		svc := "{port: 9898}"
		if service != "" {
			svc = "{name: " + service + ", port: 9898}"
		}
		_, err := flagger.LoadCanary([]byte(`apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: "` + target + `"}
  service: ` + svc + `
  analysis: {interval: 30s, stepWeight: 10, maxWeight: 50}
`))
		return err
	}
	long := "a" + strings.Repeat("b", 55) // "-primary" takes it past 63 characters
	for _, tc := range []struct{ target, service, want string }{
		{"web", "web.other", `spec.service.name: "web.other" is not a valid Service name: want a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, no dots) of at most 55 characters, so that "web.other-primary" fits in 63`},
		{"web", "1web", `spec.service.name: "1web" is not a valid Service name`},
		{"web", "Web", `spec.service.name: "Web" is not a valid Service name`},
		{"web", long, `spec.service.name: "` + long + `" is not a valid Service name`},
		{"web.v2", "", `spec.targetRef.name: "web.v2" names the apex Service when spec.service.name is not set, and is not a valid Service name`},
		{"1app", "", `spec.targetRef.name: "1app" names the apex Service when spec.service.name is not set`},
		{long, "web", `spec.targetRef.name: "` + long + `" is too long: "` + long + `-primary" must fit in 63 characters`},
	} {
		assert.Equal(t, []string{tc.want}, shorten(problems(t, load(tc.target, tc.service)), len(tc.want)), "%s/%s", tc.target, tc.service)
	}
	require.NoError(t, load("web.v2", "web"), "a dotted Deployment name with a valid service.name")
	require.NoError(t, load("1app", "app"))
	require.NoError(t, load("web", long[:55]))
}

// shorten cuts each message to n bytes, so a test can compare the start of every problem.
func shorten(msgs []string, n int) []string {
	for i, m := range msgs {
		msgs[i] = m[:min(n, len(m))]
	}
	return msgs
}

func TestLoadWebhookOptions(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis:
    stepWeight: 10
    webhooks:
      - {name: gate, type: confirm-promotion, url: "https://gate.test/approve", disableTLS: true, retries: 3, muteAlert: true, timeout: 5s}
`))
	require.NoError(t, err)
	assert.Equal(t, []canary.Webhook{{Name: "gate", Type: canary.HookConfirmPromotion, URL: "https://gate.test/approve",
		DisableTLS: true, Retries: 3, MuteAlert: true, Timeout: 5 * time.Second}}, m.Spec.Webhooks)
}

// spec.revertOnDeletion is read (a controller acts on it at deletion), never dropped; a value
// that is not a boolean is an error naming the field.
func TestLoadRevertOnDeletion(t *testing.T) {
	const base = `
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: 1m, threshold: 5, iterations: 3}
`
	c, err := flagger.LoadCanary([]byte(base))
	require.NoError(t, err)
	assert.False(t, c.RevertOnDeletion, "off unless set")

	c, err = flagger.LoadCanary([]byte(base + "  revertOnDeletion: true\n"))
	require.NoError(t, err)
	assert.True(t, c.RevertOnDeletion)

	_, err = flagger.LoadCanary([]byte(base + "  revertOnDeletion: \"yes please\"\n"))
	assert.ErrorContains(t, err, "spec.revertOnDeletion")
}

// A field given null is absent, as Flagger's decoding reads it, and a field canarykit does not
// support yet is accepted at its zero value, which asks for what omitting it does.
func TestLoadNullAndZeroValues(t *testing.T) {
	c, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: podinfo, primaryScalerQueries: {}}
  progressDeadlineSeconds: null
  suspend: false
  upstreamRef: null
  service: {port: 9898, portDiscovery: false, headless: false, retries: null}
  analysis:
    interval: 30s
    stepWeight: 10
    mirror: false
    mirrorWeight: 0
    sessionAffinity: null
    metrics:
      - name: request-success-rate
        interval: 1m
        thresholdRange: {min: 99, max: null}
      - name: request-duration
        interval: 1m
        thresholdRange: {min: null, max: 500}
`))
	require.NoError(t, err)
	rs, rd := c.Spec.Metrics[0].ThresholdRange, c.Spec.Metrics[1].ThresholdRange
	require.NotNil(t, rs.Min)
	assert.Equal(t, 99.0, *rs.Min)
	assert.Nil(t, rs.Max, "max: null is no bound, not 0")
	assert.Nil(t, rd.Min, "min: null is no bound, not 0")
	require.NotNil(t, rd.Max)
	assert.Equal(t, 500.0, *rd.Max)
	assert.Equal(t, "podinfo", c.Workload.Autoscaler)
	assert.False(t, c.Suspend)

	// what canarykit does not support is refused at any other value, and a null needed
	// field is missing
	_, err = flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, primaryScalerQueries: {podinfo: "x"}}
  progressDeadlineSeconds: 0
  service: {port: null, portDiscovery: true}
  analysis: {interval: 30s, stepWeight: 10, sessionAffinity: {cookieName: x}}
`))
	assert.ElementsMatch(t, []string{
		"spec.autoscalerRef.name: required",
		"spec.autoscalerRef.primaryScalerQueries: applies to a ScaledObject (KEDA) only: a HorizontalPodAutoscaler has no queries (Flagger ignores it)",
		"spec.progressDeadlineSeconds: must be at least 1, got 0 (omit it for the default, 600)",
		"spec.service.port: required: the port of the Services canarykit creates for the target",
	}, problems(t, err))
}

// An interval Flagger would raise to its 10 s runs as written, with a note saying so.
func TestLoadShortIntervalIsNoted(t *testing.T) {
	load := func(interval string) *flagger.Canary {
		c, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
  analysis: {interval: ` + interval + `, stepWeight: 10}
`))
		require.NoError(t, err)
		return c
	}
	c := load("5s")
	assert.Equal(t, 5*time.Second, c.Spec.Interval)
	assert.Equal(t, []string{"spec.analysis.interval 5s runs as written: Flagger would raise it to 10s"}, c.Notes)
	assert.Empty(t, load("10s").Notes)
}

// A Canary read from the cluster keeps its metadata.uid (the Events recorded on it name it, and
// the target records it: the objects Flagger generated for this Canary are adopted, not those
// of another of the same name); a manifest has none, and a uid that is not a string is an
// error naming the field.
func TestCanaryUID(t *testing.T) {
	obj := func(uid any) map[string]any {
		meta := map[string]any{"name": "podinfo", "namespace": "test"}
		if uid != nil {
			meta["uid"] = uid
		}
		return map[string]any{"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": meta,
			"spec": map[string]any{"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
				"service": map[string]any{"port": int64(9898)}, "analysis": map[string]any{"interval": "1m", "threshold": int64(5), "maxWeight": int64(50), "stepWeight": int64(10)}}}
	}
	c, err := flagger.CanaryFromObject(obj("6a3c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"))
	require.NoError(t, err)
	assert.Equal(t, "6a3c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", c.UID)
	assert.Equal(t, "6a3c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", c.Target.CanaryUID)
	c, err = flagger.CanaryFromObject(obj(nil))
	require.NoError(t, err)
	assert.Empty(t, c.UID)
	assert.Empty(t, c.Target.CanaryUID)
	_, err = flagger.CanaryFromObject(obj(int64(5)))
	assert.ErrorContains(t, err, "metadata.uid: must be a string")
}

// A DaemonSet target loads with its kind for the Workload; an autoscalerRef beside it is
// refused at its path, as is a targetRef apiVersion other than apps/v1.
func TestLoadDaemonSetTarget(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: node-agent, namespace: test}
spec:
  provider: kubernetes
  targetRef: {apiVersion: apps/v1, kind: DaemonSet, name: node-agent}
  service: {port: 9898}
  analysis: {interval: 1m, threshold: 2, iterations: 3}
`))
	require.NoError(t, err)
	assert.Equal(t, "DaemonSet", m.Workload.Kind)
	assert.Equal(t, canary.Target{Namespace: "test", Name: "node-agent"}, m.Target)

	_, err = flagger.LoadCanary([]byte(`
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: node-agent, namespace: test}
spec:
  provider: kubernetes
  targetRef: {apiVersion: apps/v1beta2, kind: DaemonSet, name: node-agent}
  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: node-agent}
  service: {port: 9898}
  analysis: {interval: 1m, threshold: 2, iterations: 3}
`))
	var ve *canary.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Error())
	}
	assert.ElementsMatch(t, []string{
		`spec.targetRef.apiVersion: must be apps/v1, got "apps/v1beta2"`,
		"spec.autoscalerRef: a DaemonSet runs one pod per node and has no autoscaler; remove autoscalerRef",
	}, got)
}

// skipAnalysis: true promotes a ready canary at once, as Flagger does, whatever its analysis
// lacks; a Canary without an analysis is refused by name, as Flagger's schema refuses it.
func TestSkipAnalysisNeedsNoSteps(t *testing.T) {
	const head = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: 9898}
`
	m, err := flagger.LoadCanary([]byte(head + "  skipAnalysis: true\n  analysis: {interval: 1m}\n"))
	require.NoError(t, err)
	assert.True(t, m.Spec.SkipAnalysis)

	_, err = flagger.LoadCanary([]byte(head + "  analysis: {interval: 1m}\n"))
	assert.ErrorContains(t, err, "spec.analysis.stepWeight: must be 1..100, got 0", "without skipAnalysis the steps are needed")

	_, err = flagger.LoadCanary([]byte(head + "  skipAnalysis: true\n"))
	assert.ErrorContains(t, err, "spec.analysis: required, as in Flagger's schema (with skipAnalysis: true, an empty one)")
}

// The nodes of every document of a stream come out of one budget: each document's tree is kept
// until the stream is read, so a budget per document let a small stream of alias bombs take
// gigabytes.
func TestLoadObjectsBoundsTheWholeStream(t *testing.T) {
	// about 38,500 nodes a document once its aliases are expanded: under the budget alone,
	// over it three together
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	for _, key := range []string{"d1", "d2", "d3"} {
		doc += key + ": [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	}
	_, err := flagger.LoadObjects([]byte(doc))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "YAML nodes", "one document is within the budget")
	_, err = flagger.LoadObjects([]byte(strings.Repeat("---\n"+doc, 3)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "document 3: not valid YAML: more than 100000 YAML nodes")
}
