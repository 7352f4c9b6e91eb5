package testenv

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

// shared is the bed of one test binary: started by the first test that asks, stopped by Main
// after the last test.
var shared sharedState

type sharedState struct {
	mu     sync.Mutex
	inMain bool
	opts   Options

	env    *Env
	envErr error

	prom     *Prometheus
	exporter *linkerdexp.Exporter
	expSrv   *httptest.Server
	promErr  error
}

// Main runs a test binary's tests and then stops whatever Shared and SharedPrometheus started.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }
func Main(m *testing.M, opts Options) {
	shared.mu.Lock()
	shared.inMain, shared.opts = true, opts
	shared.mu.Unlock()
	code := m.Run()
	stopShared(code != 0)
	os.Exit(code)
}

// stopShared stops the shared servers; after failed tests it first prints the tail of each
// server's log, since the files go with the bed.
func stopShared(failed bool) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if failed {
		for _, p := range shared.processes() {
			fmt.Fprintf(os.Stderr, "--- last lines of %s (%s)\n%s\n", p.name, p.logPath, p.logTail(20))
		}
	}
	if shared.prom != nil {
		shared.prom.Stop()
	}
	if shared.expSrv != nil {
		shared.expSrv.Close()
	}
	if shared.env != nil {
		shared.env.Stop()
	}
}

// processes lists the shared servers that are running; shared.mu must be held.
func (s *sharedState) processes() []*process {
	var out []*process
	if s.env != nil {
		for _, p := range []*process{s.env.etcd, s.env.apiserver, s.env.controllerManager} {
			if p != nil {
				out = append(out, p)
			}
		}
	}
	if s.prom != nil {
		s.prom.mu.Lock()
		if s.prom.proc != nil {
			out = append(out, s.prom.proc)
		}
		s.prom.mu.Unlock()
	}
	return out
}

// Shared returns the test binary's bed, starting it on first use with the Options given to
// Main. Tests share it: each works in its own Namespace and with its own NewUser identities.
// It skips the test when a binary is missing (fails it when CI=true) and fails it when
// TestMain does not call Main or the bed did not start.
func Shared(t testing.TB) *Env {
	t.Helper()
	shared.mu.Lock()
	opts := shared.opts
	shared.mu.Unlock()
	requireBinaries(t, opts.binaries()...)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("testenv.Shared needs TestMain to call testenv.Main (it stops the bed after the tests)")
	}
	if shared.env == nil && shared.envErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.env, shared.envErr = New(ctx, shared.opts)
	}
	if shared.envErr != nil {
		t.Fatalf("start shared test bed: %v", shared.envErr)
	}
	return shared.env
}

// SharedPrometheus returns the test binary's Prometheus and the Linkerd-shaped exporter it
// scrapes, starting both on first use (the first scrape lands about 5 s after Prometheus
// starts, so a binary pays that once). Tests share them: each writes series under its own
// namespace label and filters its queries on it.
func SharedPrometheus(t testing.TB) (*Prometheus, *linkerdexp.Exporter) {
	t.Helper()
	requireBinaries(t, binPrometheus)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("testenv.SharedPrometheus needs TestMain to call testenv.Main")
	}
	if shared.prom == nil && shared.promErr == nil {
		shared.exporter = linkerdexp.New(linkerdexp.Options{})
		shared.expSrv = httptest.NewServer(shared.exporter)
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared.prom, shared.promErr = NewPrometheus(ctx, PrometheusOptions{
			Targets:  []string{shared.expSrv.URL + "/metrics"},
			QueryLog: true,
			Logger:   shared.opts.Logger,
		})
	}
	if shared.promErr != nil {
		t.Fatalf("start shared Prometheus: %v", shared.promErr)
	}
	return shared.prom, shared.exporter
}
