package flagger_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// redteamCanary is a valid Canary; each case below replaces one of its lines.
const redteamCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  metricsServer: http://prometheus.monitoring:9090
  service:
    port: 9898
    portName: http
    meshName: ""
  analysis:
    interval: 30s
    threshold: 5
    maxWeight: 50
    stepWeight: 5
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
`

func redteamEdit(t *testing.T, old, new string) []byte {
	t.Helper()
	require.Contains(t, redteamCanary, old)
	return []byte(strings.Replace(redteamCanary, old, new, 1))
}

// redteamRefused loads data and requires an invalid-spec error naming field with want.
func redteamRefused(t *testing.T, data []byte, field, want string) {
	t.Helper()
	_, err := flagger.LoadObjects(data)
	require.Error(t, err, "must be refused at %s", field)
	require.True(t, errors.Is(err, canary.ErrInvalidSpec), "%v", err)
	assert.Contains(t, err.Error(), field+": "+want)
}

func TestRedteamBaseLoads(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(redteamCanary))
	require.NoError(t, err)
	assert.Equal(t, "http://prometheus.monitoring:9090", m.MetricsServer)
	assert.Equal(t, "http", m.Workload.PortName)
}

// A zero interval ("0s", "0m") was read as an absent one: the analysis ran every 60s (Flagger
// runs it every 10s) and the metric's range was 1m (Flagger queries [0s], which Prometheus
// refuses). Both are refused at their paths.
func TestRedteamZeroIntervalRefused(t *testing.T) {
	for _, zero := range []string{"0s", "0m", "00s", "0h0m0s"} {
		t.Run(zero, func(t *testing.T) {
			redteamRefused(t, redteamEdit(t, "interval: 30s", "interval: "+zero), "spec.analysis.interval", "must be at least 1s")
			redteamRefused(t, redteamEdit(t, "interval: 1m", "interval: "+zero), "spec.analysis.metrics[0].interval", "must be at least 1s")
		})
	}
	// an empty string is still the default, as in Flagger
	m, err := flagger.LoadCanary(redteamEdit(t, "interval: 30s", `interval: ""`))
	require.NoError(t, err)
	assert.Zero(t, m.Spec.Interval)
}

// A secretRef's name reached the driver's Secret lookup unchecked.
func TestRedteamSecretRefNameChecked(t *testing.T) {
	for _, bad := range []string{"../etc", "Bad Name", "a/b"} {
		t.Run(bad, func(t *testing.T) {
			redteamRefused(t, []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus:9090", secretRef: {name: "`+bad+`"}}
  query: up
`), "spec.provider.secretRef.name", "")
			redteamRefused(t, []byte(`apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: a, namespace: test}
spec:
  type: slack
  secretRef: {name: "`+bad+`"}
`), "spec.secretRef.name", "")
		})
	}
	objs, err := flagger.LoadObjects([]byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t, namespace: test}
spec:
  provider: {type: prometheus, address: "http://prometheus:9090", secretRef: {name: prom-auth.v1}}
  query: up
`))
	require.NoError(t, err)
	assert.Equal(t, "prom-auth.v1", objs.MetricTemplates[0].Provider.SecretRef)
}

// spec.service.portName and appProtocol went into the Services unchecked, so the API server
// refused them after the primary Deployment was written; a targetPort name with "--" too.
func TestRedteamServicePortFieldsChecked(t *testing.T) {
	cases := []struct{ old, new, field string }{
		{"portName: http", "portName: HTTP", "spec.service.portName"},
		{"portName: http", `portName: "http web"`, "spec.service.portName"},
		{"portName: http", "portName: http-", "spec.service.portName"},
		{"portName: http", "portName: h--p", "spec.service.portName"},
		{"portName: http", "portName: '8080'", "spec.service.portName"},
		{"portName: http", "portName: http-much-too-long", "spec.service.portName"},
		{"portName: http", `appProtocol: "a b"`, "spec.service.appProtocol"},
		{"portName: http", `appProtocol: "-http"`, "spec.service.appProtocol"},
		{"portName: http", `appProtocol: "Example.com/x"`, "spec.service.appProtocol"},
		{"portName: http", "targetPort: h--p", "spec.service.targetPort"},
	}
	for _, c := range cases {
		t.Run(c.new, func(t *testing.T) {
			redteamRefused(t, redteamEdit(t, c.old, c.new), c.field, "")
		})
	}
	for _, ok := range []string{"portName: grpc-web", "appProtocol: kubernetes.io/h2c", "appProtocol: TCP", "appProtocol: http"} {
		_, err := flagger.LoadCanary(redteamEdit(t, "portName: http", ok))
		assert.NoError(t, err, ok)
	}
}

// spec.service.meshName was skipped without reading it: a number passed.
func TestRedteamMeshNameTyped(t *testing.T) {
	redteamRefused(t, redteamEdit(t, `meshName: ""`, "meshName: 5"), "spec.service.meshName", "must be a string")
	redteamRefused(t, redteamEdit(t, `meshName: ""`, "meshName: [a]"), "spec.service.meshName", "must be a string")
}

// spec.metricsServer was taken as any string; a MetricTemplate's address is checked.
func TestRedteamMetricsServerChecked(t *testing.T) {
	for _, bad := range []string{"prometheus:9090", "not a url", "ftp://prometheus:9090"} {
		redteamRefused(t, redteamEdit(t, "metricsServer: http://prometheus.monitoring:9090", `metricsServer: "`+bad+`"`),
			"spec.metricsServer", "must be an absolute http(s) URL")
	}
	redteamRefused(t, redteamEdit(t, "metricsServer: http://prometheus.monitoring:9090", "metricsServer: 9090"),
		"spec.metricsServer", "must be a string")
}
