package flagger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// hostileCanary is a valid Canary whose lines can be replaced one at a time.
const hostileCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  service:
    port: 9898
    targetPort: 9898
  analysis:
    interval: 30s
    stepWeight: 10
    metrics:
      - name: request-success-rate
        thresholdRange: {min: 99}
        interval: 1m
    webhooks:
      - name: load
        url: http://loadtester.test/
        retries: 2
        metadata: {cmd: "hey http://podinfo-canary.test/"}
`

func edited(t *testing.T, old, new string) []byte {
	t.Helper()
	require.Contains(t, hostileCanary, old)
	return []byte(strings.Replace(hostileCanary, old, new, 1))
}

func TestHostileCanaryBase(t *testing.T) {
	m, err := flagger.LoadCanary([]byte(hostileCanary))
	require.NoError(t, err)
	assert.Equal(t, 60*time.Second, m.Spec.ProgressDeadline)
	assert.Equal(t, int32(9898), m.Workload.Port)
	assert.Equal(t, "9898", m.Workload.TargetPort)
}

// Numbers that used to wrap, truncate or overflow, and YAML that used to be read loosely: each
// an error naming the field.
func TestLoadCanaryRefusesHostileValues(t *testing.T) {
	cases := []struct {
		name, old, new string
		want           string
	}{
		{"deadline that overflowed to 290ms", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 18446744074",
			"spec.progressDeadlineSeconds: must be 0..2147483647, got 18446744074"},
		{"deadline beyond int64", "progressDeadlineSeconds: 60", "progressDeadlineSeconds: 1e30",
			"spec.progressDeadlineSeconds: must be a whole number, got 1e+30"},
		{"port that wrapped to 80", "port: 9898", "port: 4294967376", "spec.service.port: must be 1..65535, got 4294967376"},
		{"port zero", "port: 9898", "port: 0", "spec.service.port: must be 1..65535, got 0"},
		{"port missing", "port: 9898", "portName: http", "spec.service.port: required"},
		{"negative targetPort", "targetPort: 9898", "targetPort: -5", "spec.service.targetPort: must be 1..65535, got -5"},
		{"fractional targetPort", "targetPort: 9898", "targetPort: 80.5", "spec.service.targetPort: must be a whole number, got 80.5"},
		{"targetPort name too long", "targetPort: 9898", "targetPort: a-very-long-port-name",
			`spec.service.targetPort: must be a port number 1..65535 or a port name`},
		{"1ns interval", "interval: 30s", "interval: 1ns", "spec.analysis.interval: must be at least 1s, got 1ns"},
		{"negative interval", "interval: 30s", "interval: -30s", "spec.analysis.interval: must not be negative, got -30s"},
		{"1ms metric interval", "interval: 1m", "interval: 1ms", "spec.analysis.metrics[0].interval: must be at least 1s, got 1ms"},
		{"NaN threshold", "{min: 99}", `{min: "NaN"}`, "spec.analysis.metrics[0].thresholdRange.min: must be a finite number, got NaN"},
		{"YAML NaN threshold", "{min: 99}", `{min: .nan}`, "spec.analysis.metrics[0].thresholdRange.min: must be a finite number, got NaN"},
		{"Inf threshold", "{min: 99}", `{max: .inf}`, "spec.analysis.metrics[0].thresholdRange.max: must be a finite number, got +Inf"},
		{"retries for 32 years", "retries: 2", "retries: 100000000", "analysis.webhooks[0].retries: must be at most 20, got 100000000"},
		{"stepWeight above int32", "stepWeight: 10", "stepWeight: 4294967306", "spec.analysis.stepWeight: must be -2147483648..2147483647, got 4294967306"},
		{"duplicate key", "stepWeight: 10", "stepWeight: 10\n    stepWeight: 50", `spec.analysis.stepWeight: key "stepWeight" given twice`},
		{"second document", `metadata: {cmd: "hey http://podinfo-canary.test/"}` + "\n", `metadata: {cmd: "hey http://podinfo-canary.test/"}` + "\n---\nkind: Canary\n",
			"document 2: "},
		{"YAML 1.1 boolean is not a boolean", "retries: 2", "retries: 2\n        muteAlert: yes",
			"spec.analysis.webhooks[0].muteAlert: must be true or false"},
		{"boolean where a string is expected", `{cmd: "hey http://podinfo-canary.test/"}`, "{cmd: true}",
			"spec.analysis.webhooks[0].metadata.cmd: must be a string, got the boolean true (quote it)"},
		{"number where a string is expected", `{cmd: "hey http://podinfo-canary.test/"}`, "{cmd: \"x\", version: 1.10}",
			"spec.analysis.webhooks[0].metadata.version: must be a string, got a number (quote it: YAML reads 1.10 as 1.1)"},
		{"hexadecimal number where a string is expected", `{cmd: "hey http://podinfo-canary.test/"}`, "{cmd: \"x\", build: 0x1F}",
			"spec.analysis.webhooks[0].metadata.build: must be a string, got a number (quote it: YAML reads 1.10 as 1.1)"},
		{"ftp webhook", "url: http://loadtester.test/", "url: ftp://loadtester.test/",
			`spec.analysis.webhooks[0].url: must be an absolute http(s) URL, got "ftp://loadtester.test/"`},
		{"file webhook", "url: http://loadtester.test/", "url: file:///etc/passwd",
			`spec.analysis.webhooks[0].url: must be an absolute http(s) URL, got "file:///etc/passwd"`},
		{"malformed webhook with a token", "url: http://loadtester.test/", `url: "http://u:hunter2@load tester/?token=s3cret"`,
			`spec.analysis.webhooks[0].url: must be an absolute http(s) URL, got "http://redacted"`},
		{"templateVariables ending their string", "name: request-success-rate", "name: success-rate\n        query: sum(up)\n        templateVariables: {app: 'x\"}[1m])) * 0 or vector(0) or sum(up{namespace=\"team-b'}",
			`spec.analysis.metrics[0].templateVariables["app"]: must not hold quotes, backslashes or control characters (a query template keeps it in a string it could end): '"' at byte 1`},
		{"templateVariables with a newline", "name: request-success-rate", "name: success-rate\n        query: sum(up)\n        templateVariables: {app: \"x\\ny\"}",
			`spec.analysis.metrics[0].templateVariables["app"]: must not hold quotes, backslashes or control characters (a query template keeps it in a string it could end): '\n' at byte 1`},
		{"targetPort 0 quoted", "targetPort: 9898", `targetPort: "0"`, `spec.service.targetPort: must be a port number 1..65535 or a port name`},
		{"targetPort beyond 65535 quoted", "targetPort: 9898", `targetPort: "70000"`, `spec.service.targetPort: must be a port number 1..65535 or a port name`},
		{"targetPort name without a letter", "targetPort: 9898", `targetPort: "80-80"`, `spec.service.targetPort: must be a port number 1..65535 or a port name`},
		{"webhook without a timeout", "retries: 2", "retries: 2\n        timeout: 0s",
			"spec.analysis.webhooks[0].timeout: must be positive, got 0s (Flagger waits for ever; omit it for the default, 10s)"},
		{"alias bomb", "stepWeight: 10", "stepWeight: 10\n    x0: &a [1,1,1,1,1,1,1,1,1,1]\n    x1: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n    x2: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n    x3: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n    x4: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n    x5: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]",
			"more than 100000 YAML nodes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := flagger.LoadCanary(edited(t, c.old, c.new))
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// YAML 1.1's booleans are strings where a string is expected, as YAML 1.2 reads them.
func TestLoadCanaryReadsYAML11BooleansAsStrings(t *testing.T) {
	m, err := flagger.LoadCanary(edited(t, `{cmd: "hey http://podinfo-canary.test/"}`, "{cmd: on, mode: n, n: '5'}"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"cmd": "on", "mode": "n", "n": "5"}, m.Spec.Webhooks[0].Metadata)
}

func TestLoadObjectsRefusesHostileDocuments(t *testing.T) {
	const tpl = `apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: errors, namespace: ops}
spec:
  provider: {type: prometheus, address: %s}
  query: up
`
	for _, c := range []struct{ name, doc, want string }{
		{"List whose items is a mapping", "apiVersion: v1\nkind: List\nitems: {a: 1}\n", "items: must be a list"},
		{"List item that is a string", "apiVersion: v1\nkind: List\nitems: [x]\n", "items[0]: must be a mapping (a Kubernetes object)"},
		{"duplicate key", strings.Replace(tpl, "%s", "http://prom:9090", 1) + "kind: AlertProvider\n", `key "kind" given twice`},
		{"ftp address", strings.Replace(tpl, "%s", "ftp://prom/", 1), `spec.provider.address: must be an absolute http(s) URL, got "ftp://prom/"`},
		{"file address", strings.Replace(tpl, "%s", "file:///var/run/secret", 1), `must be an absolute http(s) URL, got "file:///var/run/secret"`},
		{"address with a password", strings.Replace(tpl, "%s", `"prom:9090@user:hunter2"`, 1), "spec.provider.address: must be an absolute http(s) URL"},
		{"alert address with a token", `apiVersion: flagger.app/v1beta1
kind: AlertProvider
metadata: {name: slack, namespace: ops}
spec: {type: slack, address: "hooks.slack.com/services/T/B/X?token=s3cret"}
`, `spec.address: must be an absolute http(s) URL, got "hooks.slack.com/services/T/B/X?redacted"`},
		{"document that is a list", "- a\n- b\n", "document 1: must be a mapping (a Kubernetes object)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := flagger.LoadObjects([]byte(c.doc))
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}
