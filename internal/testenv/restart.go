package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// StopAPIServer stops the bed's kube-apiserver (SIGTERM, then SIGKILL after a grace period)
// and leaves etcd and kube-controller-manager running: what the cluster's clients see while a
// control plane is upgraded or its apiserver crashes. StartAPIServer brings it back. It fails
// the test on the shared bed (other tests use it): restart only a bed of the test's own, made
// with Start.
func (e *Env) StopAPIServer(t testing.TB) {
	t.Helper()
	e.refuseShared(t)
	e.apiMu.Lock()
	defer e.apiMu.Unlock()
	if e.apiserver == nil {
		t.Fatal("testenv: kube-apiserver is not running")
	}
	e.apiserver.stop(stopGrace)
	e.apiserver = nil
	e.log.Info("kube-apiserver stopped", "host", e.host)
}

// StartAPIServer starts the kube-apiserver StopAPIServer stopped, on the same port with the
// same certificates, tokens, etcd and flags, so that every client made before reconnects by
// itself, and waits until it is ready. Each start writes its own log file (see APIServerLog);
// the audit log, if any, goes on in the same file.
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	e.refuseShared(t)
	e.apiMu.Lock()
	defer e.apiMu.Unlock()
	if e.apiserver != nil {
		t.Fatal("testenv: kube-apiserver is already running")
	}
	e.restarts++
	cfg := e.apiConfig
	cfg.logPath = filepath.Join(e.dir, fmt.Sprintf("kube-apiserver.%d.log", e.restarts))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	p, err := startAPIServer(ctx, cfg, e.tokens[AdminUser])
	if err != nil {
		t.Fatalf("testenv: restart kube-apiserver: %v", err)
	}
	e.apiserver = p
	e.log.Info("kube-apiserver started again", "host", e.host, "restarts", e.restarts)
}

// RestartAPIServer stops the bed's kube-apiserver and starts it again (StopAPIServer, then
// StartAPIServer); etcd keeps the cluster's state.
func (e *Env) RestartAPIServer(t testing.TB) {
	t.Helper()
	e.StopAPIServer(t)
	e.StartAPIServer(t)
}

// refuseShared fails the test if e is the test binary's shared bed.
func (e *Env) refuseShared(t testing.TB) {
	t.Helper()
	shared.mu.Lock()
	isShared := shared.env == e
	shared.mu.Unlock()
	if isShared {
		t.Fatal("testenv: the shared bed's kube-apiserver cannot be stopped (other tests use it); use Start for a bed of the test's own")
	}
}
