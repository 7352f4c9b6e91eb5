package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// startTimeout bounds how long New waits for the servers to come up.
const startTimeout = 2 * time.Minute

// Options configure a bed. The zero value is a bed without audit log.
type Options struct {
	// Audit makes kube-apiserver write an audit log (every request, level Metadata) that
	// AuditMark and AuditSince read.
	Audit bool
	// APIServerArgs are extra kube-apiserver flags, appended after the bed's own.
	APIServerArgs []string
	// ControllerManagerArgs are extra kube-controller-manager flags, appended after the bed's own.
	ControllerManagerArgs []string
	// WithoutControllerManager starts etcd and kube-apiserver only: the shape of
	// controller-runtime's envtest. No controller runs, so Deployments get no ReplicaSets, pods
	// or status (kube/kubetest's StartDeployments stands in), no ServiceAccount is created (the
	// apiserver runs, as envtest's does, with the ServiceAccount admission plugin disabled, and
	// Namespace does not wait for one) and deleted namespaces stay Terminating.
	WithoutControllerManager bool
	// Logger receives progress messages. Start defaults it to the test's log; New and Main
	// discard them when it is zero.
	Logger logr.Logger
}

// Env is a running control plane: etcd, kube-apiserver (RBAC, token authentication) and
// kube-controller-manager on free loopback ports, with their files in a temporary directory.
type Env struct {
	log        logr.Logger
	dir        string
	etcdDir    string
	host       string
	pki        *pki
	tokens     map[string]string
	auditLog   string
	client     kubernetes.Interface
	nextUser   atomic.Int32
	auditMarks atomic.Int64

	timings Timings

	etcd, controllerManager *process
	stopOnce                sync.Once

	apiMu     sync.Mutex // guards apiserver and restarts, which replace it
	apiserver *process
	apiConfig apiServerConfig // how apiserver was started, for RestartAPIServer
	restarts  int

	withoutControllerManager bool
}

// binaries are the servers a bed of these options runs.
func (o Options) binaries() []string {
	if o.WithoutControllerManager {
		return []string{binEtcd, binAPIServer}
	}
	return []string{binEtcd, binAPIServer, binControllerManager}
}

// Timings says how long each server took to become ready, for benchmarks and reports.
type Timings struct {
	Etcd, APIServer, ControllerManager, Total time.Duration
}

// Start starts a bed for one test and stops it when the test ends. It skips the test when a
// binary is missing (fails it when CI=true). Prefer Shared: one bed per test binary.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	requireBinaries(t, opts.binaries()...)
	if opts.Logger.GetSink() == nil {
		opts.Logger = testr.NewWithInterface(t, testr.Options{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	env, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("start test bed: %v", err)
	}
	t.Cleanup(env.Stop)
	return env
}

// New starts a bed. The caller must Stop it. Errors wrap ErrBinaryMissing when a binary is not
// installed.
func New(ctx context.Context, opts Options) (*Env, error) {
	paths := map[string]string{}
	for _, n := range opts.binaries() {
		p, err := lookPath(n)
		if err != nil {
			return nil, fmt.Errorf("%w; run `%s`", err, InstallCommand)
		}
		paths[n] = p
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	var err error
	for attempt := 1; ; attempt++ {
		var env *Env
		env, err = start(ctx, opts, log, paths)
		if err == nil {
			return env, nil
		}
		// Another process may take a port between freePorts and the server's bind.
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		log.Info("port taken, retrying", "attempt", attempt, "error", err)
	}
}

func start(ctx context.Context, opts Options, log logr.Logger, paths map[string]string) (_ *Env, err error) {
	began := time.Now()
	env := &Env{log: log, withoutControllerManager: opts.WithoutControllerManager}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	if env.dir, err = tempDir(os.TempDir(), "testenv"); err != nil {
		return nil, err
	}
	if env.etcdDir, err = tempDir(fastTempRoot(), "etcd"); err != nil {
		return nil, err
	}
	if env.pki, err = newPKI(env.dir); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(env.dir, "tokens.csv")
	if env.tokens, err = writeTokenFile(tokenFile); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}

	var etcdURL string
	if env.etcd, etcdURL, err = startEtcd(ctx, paths[binEtcd], env.etcdDir, env.dir, ports[0], ports[1]); err != nil {
		return nil, err
	}
	env.timings.Etcd = time.Since(began)
	log.V(1).Info("etcd ready", "url", etcdURL, "after", env.timings.Etcd)

	apiStart := time.Now()
	if opts.Audit {
		env.auditLog = filepath.Join(env.dir, "audit.log")
	}
	env.host = "https://" + hostPort(ports[2])
	apiArgs := opts.APIServerArgs
	if opts.WithoutControllerManager {
		// as envtest runs it: no controller would create the ServiceAccounts pods refer to
		apiArgs = append([]string{"--disable-admission-plugins=ServiceAccount"}, apiArgs...)
	}
	env.apiConfig = apiServerConfig{
		path: paths[binAPIServer], dir: env.dir, etcdURL: etcdURL, port: ports[2], pki: env.pki,
		tokenFile: tokenFile, auditLog: env.auditLog, extraArgs: apiArgs,
		logPath: filepath.Join(env.dir, "kube-apiserver.log"),
	}
	env.apiserver, err = startAPIServer(ctx, env.apiConfig, env.tokens[AdminUser])
	if err != nil {
		return nil, err
	}
	env.timings.APIServer = time.Since(apiStart)
	log.V(1).Info("kube-apiserver ready", "host", env.host, "after", env.timings.APIServer)

	if env.client, err = kubernetes.NewForConfig(env.Config()); err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	if opts.WithoutControllerManager {
		env.timings.Total = time.Since(began)
		log.Info("test bed ready (no kube-controller-manager)", "host", env.host, "dir", env.dir, "timings", env.timings)
		return env, nil
	}
	kcmStart := time.Now()
	env.controllerManager, err = startControllerManager(ctx, paths[binControllerManager], env.dir, env.host,
		env.pki.caPEM, env.tokens[ControllerManagerUser], env.client, opts.ControllerManagerArgs)
	if err != nil {
		return nil, err
	}
	env.timings.ControllerManager = time.Since(kcmStart)
	env.timings.Total = time.Since(began)
	log.Info("test bed ready", "host", env.host, "dir", env.dir, "timings", env.timings)
	return env, nil
}

// fastTempRoot is where etcd keeps its data: tmpfs when there is one (etcd syncs every write).
func fastTempRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", ".canarykit-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

// Stop stops kube-controller-manager, kube-apiserver and then etcd, and removes the bed's
// files. It is safe to call more than once.
func (e *Env) Stop() {
	e.stopOnce.Do(func() {
		e.controllerManager.stop(stopGrace)
		e.apiMu.Lock()
		e.apiserver.stop(stopGrace) // before etcd: without etcd it takes long to exit (nil: stopped)
		e.apiMu.Unlock()
		e.etcd.stop(stopGrace)
		for _, d := range []string{e.dir, e.etcdDir} {
			if d != "" {
				if err := os.RemoveAll(d); err != nil {
					e.log.Error(err, "remove test bed dir", "dir", d)
				}
			}
		}
	})
}

// Timings says how long the bed took to start.
func (e *Env) Timings() Timings { return e.timings }

// Host is the apiserver's URL (https://127.0.0.1:port).
func (e *Env) Host() string { return e.host }

// Dir is the bed's scratch directory: the servers' logs, kubeconfigs, certificates.
func (e *Env) Dir() string { return e.dir }

// Config returns a new rest.Config for AdminUser (system:masters), trusting the bed's CA.
func (e *Env) Config() *rest.Config { return e.configFor(AdminUser) }

// Client is a clientset for AdminUser.
func (e *Env) Client() kubernetes.Interface { return e.client }

func (e *Env) configFor(user string) *rest.Config {
	return &rest.Config{
		Host:            e.host,
		BearerToken:     e.tokens[user],
		TLSClientConfig: rest.TLSClientConfig{CAData: e.pki.caPEM},
		QPS:             -1, // no client-side throttling: tests measure the server, not the limiter
		UserAgent:       "canarykit-testenv/" + user,
	}
}

// ConfigFor returns a rest.Config authenticating as user, one of the identities the bed
// defines (AdminUser, ControllerManagerUser, or a name from NewUser).
func (e *Env) ConfigFor(t testing.TB, user string) *rest.Config {
	t.Helper()
	if _, ok := e.tokens[user]; !ok {
		t.Fatalf("testenv: no identity %q (use NewUser)", user)
	}
	return e.configFor(user)
}

// ErrNoUsers is returned when every predefined unprivileged user has been handed out.
var ErrNoUsers = errors.New("testenv: all predefined users are taken")

// NewUser hands out an unprivileged user no other test of this bed has used: authenticated,
// in group UsersGroup, and allowed nothing until a test grants it something (see Grant).
func (e *Env) NewUser(t testing.TB) (name string, cfg *rest.Config) {
	t.Helper()
	i := int(e.nextUser.Add(1)) - 1
	if i >= userCount {
		t.Fatalf("%v (%d)", ErrNoUsers, userCount)
	}
	name = unprivilegedUser(i)
	return name, e.configFor(name)
}

// ControllerManagerLog is the path of kube-controller-manager's log ("" on a bed without one);
// APIServerLog and EtcdLog likewise. Useful when a test fails.
func (e *Env) ControllerManagerLog() string {
	if e.controllerManager == nil {
		return ""
	}
	return e.controllerManager.logPath
}

// HasControllerManager reports whether kube-controller-manager runs in the bed (see
// Options.WithoutControllerManager).
func (e *Env) HasControllerManager() bool { return !e.withoutControllerManager }

// APIServerLog is the path of kube-apiserver's log.
func (e *Env) APIServerLog() string {
	e.apiMu.Lock()
	defer e.apiMu.Unlock()
	if e.apiserver == nil {
		return e.apiConfig.logPath
	}
	return e.apiserver.logPath
}
