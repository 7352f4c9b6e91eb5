package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// canaryctl runs Main without a test cluster: the kubeconfig (flags, $KUBECONFIG) decides.
func canaryctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs bytes.Buffer
	code = Main(context.Background(), args, &out, &errs, nil)
	return code, out.String(), errs.String()
}

// brokenKubeconfig points $KUBECONFIG (and the home directory) at a file that is not a
// kubeconfig: a command that reads it fails saying so.
func brokenKubeconfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(file, []byte("this is not a kubeconfig"), 0o600))
	t.Setenv("KUBECONFIG", file)
	t.Setenv("HOME", t.TempDir())
}

// writeKubeconfig writes a kubeconfig whose current context reaches server without TLS.
func writeKubeconfig(t *testing.T, server string) string {
	file := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: "x"}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	require.NoError(t, clientcmd.WriteToFile(*cfg, file))
	return file
}

func TestHelpPrintsUsageAndExitsZero(t *testing.T) {
	brokenKubeconfig(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"usage:", "canaryctl run -f canary.yaml", "canaryctl validate -f canary.yaml", "canaryctl status"}},
		{[]string{"--help"}, []string{"usage:", "canaryctl promote (-f canary.yaml | NAMESPACE/NAME)"}},
		{[]string{"help"}, []string{"usage:", "canaryctl resume"}},
		{[]string{"run", "-h"}, []string{"usage: canaryctl run", "-prometheus", "-request-timeout", "-router", "-v\tverbose"}},
		{[]string{"status", "test/podinfo", "--help"}, []string{"usage: canaryctl status", "-kubeconfig", "-request-timeout"}},
		{[]string{"validate", "--help"}, []string{"usage: canaryctl validate", "-t value"}},
	} {
		code, stdout, stderr := canaryctl(t, tc.args...)
		assert.Equal(t, exitPromoted, code, "%v", tc.args)
		for _, w := range tc.want {
			assert.Contains(t, stdout, w, "%v", tc.args)
		}
		assert.Empty(t, stderr, "%v", tc.args)
	}
	_, stdout, _ := canaryctl(t, "validate", "-h")
	assert.NotContains(t, stdout, "-kubeconfig", "validate reads no kubeconfig: it has no such flag")
}

func TestUnknownCommandIsAUsageErrorBeforeAnyKubeconfig(t *testing.T) {
	brokenKubeconfig(t)
	code, stdout, stderr := canaryctl(t, "frobnicate", "test/podinfo")
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `canaryctl: unknown command "frobnicate"`)
	assert.Contains(t, stderr, "usage:")
	assert.NotContains(t, stderr, "kubeconfig")

	code, _, stderr = canaryctl(t)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "usage:")
}

func TestUsageErrorsExitTwoBeforeAnyKubeconfig(t *testing.T) {
	brokenKubeconfig(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--bogus", "test/podinfo"}, "flag provided but not defined: -bogus"},
		{[]string{"status", "test/podinfo", "--request-timeout", "soon"}, `invalid value "soon" for flag -request-timeout`},
		{[]string{"status"}, "give -f canary.yaml or NAMESPACE/NAME"},
		{[]string{"status", "podinfo"}, `want NAMESPACE/NAME, got "podinfo"`},
		{[]string{"status", "test/podinfo", "prod/podinfo"}, "one NAMESPACE/NAME, got 2 arguments"},
		{[]string{"promote", "test/a/b"}, `want NAMESPACE/NAME, got "test/a/b"`},
		{[]string{"run"}, "-f canary.yaml is required"},
		{[]string{"run", "-f", "canary.yaml", "test/podinfo"}, `unexpected argument "test/podinfo"`},
		{[]string{"validate", "--kubeconfig", "x"}, "flag provided but not defined: -kubeconfig"},
	} {
		code, stdout, stderr := canaryctl(t, tc.args...)
		assert.Equal(t, exitError, code, "%v", tc.args)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
		assert.NotContains(t, stderr, "canaryctl: kubeconfig", "%v", tc.args)
		assert.Empty(t, stdout, "%v", tc.args)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		positional []string
		kubeconfig string
		wait       bool
	}{
		{[]string{"test/podinfo", "--kubeconfig", "k"}, []string{"test/podinfo"}, "k", false},
		{[]string{"--kubeconfig=k", "test/podinfo", "--wait"}, []string{"test/podinfo"}, "k", true},
		{[]string{"a", "--wait", "b", "-kubeconfig", "k", "c"}, []string{"a", "b", "c"}, "k", true},
		{[]string{"a", "--", "--wait", "b"}, []string{"a", "--wait", "b"}, "", false},
		{[]string{"--", "-x"}, []string{"-x"}, "", false},
		{nil, nil, "", false},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		kubeconfig := fs.String("kubeconfig", "", "")
		wait := fs.Bool("wait", false, "")
		positional, err := parseInterspersed(fs, tc.args)
		require.NoError(t, err, "%v", tc.args)
		assert.Equal(t, tc.positional, positional, "%v", tc.args)
		assert.Equal(t, tc.kubeconfig, *kubeconfig, "%v", tc.args)
		assert.Equal(t, tc.wait, *wait, "%v", tc.args)
	}
}

// fakeAPIServer answers every request with 404 Not Found, as an API server without the
// target's Lease does, and counts the requests.
func fakeAPIServer(t *testing.T) (url string, requests func() int) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestFlagsAfterTheTargetAreRead(t *testing.T) {
	brokenKubeconfig(t) // what a command that ignored --kubeconfig would read
	url, requests := fakeAPIServer(t)
	kubeconfig := writeKubeconfig(t, url)
	for _, args := range [][]string{
		{"status", "test/podinfo", "--kubeconfig", kubeconfig},
		{"status", "--kubeconfig", kubeconfig, "test/podinfo"},
		{"status", "test/podinfo", "--kubeconfig=" + kubeconfig, "--request-timeout", "1m"},
	} {
		before := requests()
		code, stdout, stderr := canaryctl(t, args...)
		assert.Equal(t, exitPromoted, code, "%v: %s", args, stderr)
		assert.Equal(t, "podinfo.test: no release has run\n", stdout, "%v", args)
		assert.Greater(t, requests(), before, "%v: the kubeconfig's server was asked", args)
	}
	code, _, stderr := canaryctl(t, "promote", "test/podinfo", "--kubeconfig", kubeconfig)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "lease test/podinfo-canarykit does not exist")
}

// silentServer accepts TCP connections and never answers on them.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return // the listener is closed
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestAnAPIServerThatNeverAnswersIsAnError(t *testing.T) {
	kubeconfig := writeKubeconfig(t, silentServer(t))
	for _, cmd := range []string{"status", "promote", "abort"} {
		code, stdout, stderr := canaryctl(t, cmd, "test/podinfo", "--kubeconfig", kubeconfig, "--request-timeout", "100ms")
		assert.Equal(t, exitError, code, cmd)
		assert.Empty(t, stdout, cmd)
		assert.Contains(t, stderr, "no answer from the API server within 100ms (--request-timeout)", cmd)
	}
}

// roundTripperFunc is an http.RoundTripper from a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRequestTimeoutSparesWatches(t *testing.T) {
	cfg := withRequestTimeout(&rest.Config{Host: "http://127.0.0.1:1"}, 5*time.Second)
	deadlines := map[string]bool{}
	rt := cfg.WrapTransport(roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		_, has := r.Context().Deadline()
		deadlines[r.URL.RawQuery] = has
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}))
	for _, q := range []string{"", "watch=true&resourceVersion=1", "limit=500"} {
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/api/v1/pods?"+q, nil)
		require.NoError(t, err)
		resp, err := rt.RoundTrip(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	assert.Equal(t, map[string]bool{"": true, "watch=true&resourceVersion=1": false, "limit=500": true}, deadlines)
	assert.Same(t, cfg, withRequestTimeout(cfg, 0), "0 waits forever")
}
