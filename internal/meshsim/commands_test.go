package meshsim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/loadgen"
)

// The demo Canary manifests' commands, verbatim (kube/flagger/testdata canary-000, -002, -004).
const (
	seedAcceptance = "curl -sd 'test' http://podinfo-canary.test:9898/token | grep token"
	seedLoad       = "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/"
)

func TestSplitPipelineOfTheSeedsCommands(t *testing.T) {
	stages, err := splitPipeline(seedAcceptance)
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"curl", "-sd", "test", "http://podinfo-canary.test:9898/token"}, {"grep", "token"}}, stages)

	stages, err = splitPipeline(`curl -H "X-Name: a \"b\"" -d 'it''s' x\ y 'a|b'`)
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"curl", "-H", `X-Name: a "b"`, "-d", "its", "x y", "a|b"}}, stages)

	for _, bad := range []string{"curl x; rm -rf /", "curl x && curl y", "curl x || true", "curl $URL", `curl "$URL"`,
		"curl x > out", "curl 'x", `curl "x`, "curl x |", "| grep x", "curl x &", "curl `x`"} {
		_, err := splitPipeline(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseHeyOfTheSeedsLoadTest(t *testing.T) {
	cfg, err := ParseHey(seedLoad)
	require.NoError(t, err)
	assert.Equal(t, "http://podinfo-canary.test:9898/", cfg.URL)
	assert.Equal(t, 2*time.Minute, cfg.Duration)
	assert.Equal(t, 20.0, cfg.Rate) // -q is per worker
	assert.Equal(t, 2, cfg.Concurrency)
	assert.Zero(t, cfg.MaxRequests, "bounded by -z; loadgen defaults it to Rate × Duration")
	assert.Equal(t, http.MethodGet, cfg.Method)
	assert.Equal(t, 20*time.Second, cfg.RequestTimeout)
	_, err = loadgen.New(cfg)
	require.NoError(t, err)
}

func TestParseHeyOptions(t *testing.T) {
	cfg, err := ParseHey(`hey -n 101 -c 10 -m post -d '{"a":1}' -T application/json -H 'X-A: 1' -H "X-B: 2" -A text/plain -a u:p -t 3 -disable-keepalive http://podinfo.test:9898/echo`)
	require.NoError(t, err)
	assert.Equal(t, 100, cfg.MaxRequests, "rounded down to a multiple of -c, as hey does")
	assert.Equal(t, float64(loadgen.MaxRate), cfg.Rate, "no -q: as fast as possible")
	assert.Equal(t, heyNoDuration, cfg.Duration)
	assert.Equal(t, "POST", cfg.Method)
	assert.Equal(t, `{"a":1}`, string(cfg.Body))
	assert.Equal(t, "application/json", cfg.Header.Get("Content-Type"))
	assert.Equal(t, "1", cfg.Header.Get("X-A"))
	assert.Equal(t, "2", cfg.Header.Get("X-B"))
	assert.Equal(t, "text/plain", cfg.Header.Get("Accept"))
	assert.Equal(t, "Basic dTpw", cfg.Header.Get("Authorization"))
	assert.Equal(t, 3*time.Second, cfg.RequestTimeout)

	assert.False(t, cfg.NoRedirects)
	assert.Empty(t, cfg.Header.Values("Host"))

	// -host is the requests' Host and -disable-redirects follows none (both refused or ignored
	// before); loadgen bounds -c
	cfg, err = ParseHey(`hey -z 1m -c 2 -host podinfo.example -disable-redirects http://podinfo.test:9898/`)
	require.NoError(t, err)
	assert.Equal(t, "podinfo.example", cfg.Header.Get("Host"))
	assert.True(t, cfg.NoRedirects)
	_, err = loadgen.New(cfg)
	require.NoError(t, err)
	cfg, err = ParseHey(`hey -z 1m -c 100000000 http://podinfo.test:9898/`)
	require.NoError(t, err)
	_, err = loadgen.New(cfg)
	require.ErrorIs(t, err, loadgen.ErrInvalidConfig)

	for _, bad := range []string{"curl x", "hey", "hey -z 1m", "hey -o csv http://x/", "hey -n 1 -c 2 http://x/", "hey -H nocolon http://x/", "hey a b"} {
		_, err := ParseHey(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseCurlOfTheSeedsAcceptanceTest(t *testing.T) {
	o, err := parseCurl([]string{"-sd", "test", "http://podinfo-canary.test:9898/token"})
	require.NoError(t, err)
	assert.True(t, o.silent)
	assert.Equal(t, http.MethodPost, o.method)
	assert.Equal(t, []string{"test"}, o.data)
	assert.Equal(t, "application/x-www-form-urlencoded", o.header.Get("Content-Type"))
	assert.Equal(t, "http://podinfo-canary.test:9898/token", o.url)

	o, err = parseCurl([]string{"-fsSL", "-XPUT", "--header=X-A: 1", "--data-raw", "a", "-m", "2.5", "-o", "/dev/null", "-w", "%{http_code}", "podinfo.test:9898"})
	require.NoError(t, err)
	assert.True(t, o.fail && o.silent && o.showError && o.discard)
	assert.Equal(t, "PUT", o.method)
	assert.Equal(t, "1", o.header.Get("X-A"))
	assert.Equal(t, 2500*time.Millisecond, o.timeout)
	assert.Equal(t, "http://podinfo.test:9898", o.url)

	for _, bad := range [][]string{{"-v", "x"}, {"-d", "@file", "x"}, {"-o", "out.txt", "x"}, {"-s"}, {"x", "y"}, {"--bogus", "x"}, {"-H"}} {
		_, err := parseCurl(bad)
		assert.Error(t, err, bad)
	}
}

func TestGrep(t *testing.T) {
	in := "{\"token\":\"abc\"}\nsecond line\n"
	for _, c := range []struct {
		args   []string
		out    string
		status int
	}{
		{[]string{"token"}, "{\"token\":\"abc\"}\n", 0},
		{[]string{"-q", "token"}, "", 0},
		{[]string{"-v", "token"}, "second line\n", 0},
		{[]string{"-c", "line"}, "1\n", 0},
		{[]string{"-i", "SECOND"}, "second line\n", 0},
		{[]string{"-F", "."}, "", 1},
		{[]string{"missing"}, "", 1},
		{[]string{"-x", "a"}, "", 2},
	} {
		out, status, _ := grep(context.Background(), c.args, in)
		assert.Equal(t, c.out, out, c.args)
		assert.Equal(t, c.status, status, c.args)
	}
}

func TestRunRefusesWhatItCannotSimulate(t *testing.T) {
	var m Mesh
	_, err := m.Run(context.Background(), "kubectl get pods")
	assert.ErrorContains(t, err, "not simulated")
	_, err = m.Run(context.Background(), "curl x; echo")
	assert.Error(t, err)
}
