package testenv

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKubernetesVersionMatchesToolsModule(t *testing.T) {
	data, err := os.ReadFile("tools/go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?k8s\.io/kubernetes (v\S+)`).FindSubmatch(data)
	require.NotNil(t, m, "tools/go.mod requires no k8s.io/kubernetes")
	assert.Equal(t, KubernetesVersion, string(m[1]))
	staging := regexp.MustCompile(`(?m)^\s*k8s\.io/\S+ => k8s\.io/\S+ v0\.(\d+)\.(\d+)$`).FindAllSubmatch(data, -1)
	require.NotEmpty(t, staging)
	for _, s := range staging {
		assert.Equal(t, "v1."+string(s[1])+"."+string(s[2]), KubernetesVersion, "staging replace %s", s[0])
	}
}

func TestBinDirHonoursOverride(t *testing.T) {
	t.Setenv(DirEnv, "/opt/bed")
	dir, err := BinDir()
	require.NoError(t, err)
	assert.Equal(t, "/opt/bed/k8s-"+KubernetesVersion, dir)
}

func TestNamespaceName(t *testing.T) {
	re := regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	for _, name := range []string{"TestX", "TestA/sub_case#01", "Test" + strings.Repeat("Long", 30), "/"} {
		got := namespaceName(name)
		assert.Regexp(t, re, got, name)
		assert.LessOrEqual(t, len(got), 63, name)
	}
	assert.True(t, strings.HasPrefix(namespaceName("TestA/sub_case"), "testa-sub-case-"))
	assert.NotEqual(t, namespaceName("TestX"), namespaceName("TestX"))
}

func TestPrometheusConfig(t *testing.T) {
	cfg, err := prometheusConfig([]string{"127.0.0.1:9000", "http://127.0.0.1:9001/stats"}, time.Second, "/tmp/q.log")
	require.NoError(t, err)
	assert.Contains(t, cfg, "scrape_interval: 1s\n")
	assert.Contains(t, cfg, `query_log_file: "/tmp/q.log"`)
	assert.Contains(t, cfg, "metrics_path: \"/metrics\"\n  static_configs:\n  - targets: [\"127.0.0.1:9000\"]")
	assert.Contains(t, cfg, "metrics_path: \"/stats\"\n  static_configs:\n  - targets: [\"127.0.0.1:9001\"]")

	_, err = prometheusConfig([]string{"https://127.0.0.1:9000"}, time.Second, "")
	assert.Error(t, err)
}

func TestDecodeResultTreatsNaNAsANumber(t *testing.T) {
	samples, err := decodeResult("vector", []byte(`[{"metric":{"a":"b"},"value":[1700000000.5,"NaN"]},{"metric":{},"value":[1700000000,"12.5"]}]`))
	require.NoError(t, err)
	require.Len(t, samples, 2)
	assert.True(t, samples[0].IsNaN())
	assert.Equal(t, map[string]string{"a": "b"}, samples[0].Labels)
	assert.Equal(t, 12.5, samples[1].Value)
	assert.Equal(t, int64(1700000000), samples[1].Time.Unix())

	samples, err = decodeResult("scalar", []byte(`[1700000000,"+Inf"]`))
	require.NoError(t, err)
	require.Len(t, samples, 1)

	_, err = decodeResult("matrix", []byte(`[]`))
	assert.Error(t, err)
}

func TestParseQueryLog(t *testing.T) {
	log := `{"httpRequest":{"clientIP":"127.0.0.1","method":"POST","path":"/api/v1/query"},"params":{"end":"2026-01-01T00:00:00.000Z","query":"up","start":"2026-01-01T00:00:00.000Z","step":0},"stats":{"timings":{"evalTotalTime":0.0001,"execQueueTime":0.0002,"execTotalTime":0.0005}},"ts":"2026-01-01T00:00:00.001Z"}

{"params":{"query":"sum(x)"},"ts":"2026-01-01T00:00:01Z"}
`
	got, err := parseQueryLog(strings.NewReader(log))
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, LoggedQuery{Query: "up", Path: "/api/v1/query", Time: time.Date(2026, 1, 1, 0, 0, 0, 1e6, time.UTC),
		Exec: 500 * time.Microsecond}, got[0])
	assert.Equal(t, "sum(x)", got[1].Query)
	assert.Zero(t, got[1].Exec)
}

// A watch has a response code once its response starts and is complete only when it ends; a
// request completed has the time of its answer.
func TestAuditEventsTellOpenWatchesFromEndedOnes(t *testing.T) {
	log := t.TempDir() + "/audit.log"
	lines := []string{
		`{"auditID":"a","stage":"RequestReceived","verb":"watch","requestReceivedTimestamp":"2026-01-01T00:00:00Z"}`,
		`{"auditID":"b","stage":"RequestReceived","verb":"watch","requestReceivedTimestamp":"2026-01-01T00:00:01Z"}`,
		`{"auditID":"c","stage":"RequestReceived","verb":"get","requestReceivedTimestamp":"2026-01-01T00:00:02Z"}`,
		`{"auditID":"a","stage":"ResponseStarted","responseStatus":{"code":200}}`,
		`{"auditID":"b","stage":"ResponseStarted","responseStatus":{"code":200}}`,
		`{"auditID":"c","stage":"ResponseComplete","responseStatus":{"code":404},"stageTimestamp":"2026-01-01T00:00:02.5Z"}`,
		`{"auditID":"b","stage":"ResponseComplete","responseStatus":{"code":200},"stageTimestamp":"2026-01-01T00:00:09Z"}`,
	}
	require.NoError(t, os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	e := &Env{auditLog: log}
	events, err := e.readAudit(0, -1)
	require.NoError(t, err)
	require.Len(t, events, 3)
	complete := map[string]bool{}
	for _, ev := range events {
		complete[ev.AuditID] = ev.Complete
		assert.NotZero(t, ev.Code, ev.AuditID)
	}
	assert.Equal(t, map[string]bool{"a": false, "b": true, "c": true}, complete)
	assert.Zero(t, events[0].Completed, "an open watch")
	assert.Equal(t, 8*time.Second, events[1].Completed.Sub(events[1].Received), "a watch's life")
	assert.Equal(t, 500*time.Millisecond, events[2].Completed.Sub(events[2].Received), "a request's time in the API server")
}

// A create names its object in the body: the API server records the name from the stages
// after RequestReceived.
func TestAuditEventsNameTheObjectACreateMade(t *testing.T) {
	log := t.TempDir() + "/audit.log"
	lines := []string{
		`{"auditID":"a","stage":"RequestReceived","verb":"create","objectRef":{"resource":"events","namespace":"ns"},"requestReceivedTimestamp":"2026-01-01T00:00:00Z"}`,
		`{"auditID":"b","stage":"RequestReceived","verb":"get","objectRef":{"resource":"pods","namespace":"ns","name":"p"},"requestReceivedTimestamp":"2026-01-01T00:00:01Z"}`,
		`{"auditID":"a","stage":"ResponseComplete","objectRef":{"resource":"events","namespace":"ns","name":"podinfo.18a2b3c4d5e6f708"},"responseStatus":{"code":201}}`,
		`{"auditID":"b","stage":"ResponseComplete","objectRef":{"resource":"pods","namespace":"ns","name":"q"},"responseStatus":{"code":200}}`,
	}
	require.NoError(t, os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	e := &Env{auditLog: log}
	events, err := e.readAudit(0, -1)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, "podinfo.18a2b3c4d5e6f708", events[0].Name)
	assert.Equal(t, "p", events[1].Name, "a name the request gave stays")
}
