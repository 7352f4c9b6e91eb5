// Package testenv is canarykit's integration test bed: a real Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) and a real Prometheus, run as processes on free
// loopback ports, so that "works with Kubernetes" and "works with Prometheus" are proven
// against the servers themselves.
//
// # Binaries
//
// `make testenv` (hack/testenv.sh) installs etcd and Prometheus from Debian's packages and
// builds kube-apiserver and kube-controller-manager KubernetesVersion from the k8s.io/kubernetes
// module (the separate module in tools/ pins it, so canarykit's go.mod never requires it),
// caching them in os.UserCacheDir()/canarykit/testenv/k8s-<version>/ (override the root with
// CANARYKIT_TESTENV_DIR). The package finds them there and on PATH, with no environment
// variable; when KUBEBUILDER_ASSETS names a setup-envtest directory whose kube-apiserver is of
// KubernetesVersion's minor (AssetsFit), its etcd and kube-apiserver come first. When one is missing, tests skip with the command to run, except with CI=true,
// where they fail: CI must run them. Under -short every test that asks for the bed skips, CI or
// not, and nothing is started.
//
// # One bed per test binary
//
// Starting the control plane takes a few seconds, so a test binary starts it once:
//
//	func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }
//
//	func TestSomething(t *testing.T) {
//		env := testenv.Shared(t)      // started by the first test that asks
//		ns := env.Namespace(t)        // unique namespace, deleted when the test ends
//		client := env.Client()        // admin (system:masters); env.Config() for a rest.Config
//		...
//	}
//
// Main stops everything after the last test; the servers also die with the test binary if it
// is killed (own process group, Pdeathsig). Start(t, opts) gives a test a bed of its own.
//
// # Identities
//
// The apiserver authorizes with RBAC and authenticates static tokens: AdminUser (the identity
// of Config and Client), ControllerManagerUser, KubeletUser, and 64 unprivileged users in group
// UsersGroup that may do nothing until granted. env.NewUser(t) hands out an unused one with its
// rest.Config; env.Grant(t, user, namespace, rules...) binds a Role (or, with namespace "", a
// ClusterRole) and returns once the authorizer allows it.
//
// # The kubelet stand-in
//
// No scheduler or kubelet runs, and no container. env.Kubelet(t, namespace, selector, behavior)
// runs kube/kubetest's kubelet stand-in as KubeletUser: it writes the status a kubelet would,
// Ready at once (ReadyNow), after a delay (ReadyAfter), never (NeverReady), crash-looping
// (CrashLoop) or for only the first N pods (Behavior.ReadyPods), and the real ReplicaSet and
// Deployment controllers compute availability, rollout status and ProgressDeadlineExceeded from
// it (see kube/kubetest for what they read); so does the DaemonSet controller, for the Node
// objects a test creates (untainted: the API server's admission taints a new Node not-ready,
// and no node lifecycle controller lifts it), whose pods name their node by node affinity and
// stay unbound. The names here (Behavior, ReadyNow, ...) are the
// kit's. Note that the Deployment controller keeps condition times in whole seconds, so a
// progressDeadlineSeconds of 1 may expire in well under a second.
//
// # The envtest shape
//
// Options.WithoutControllerManager starts etcd and kube-apiserver only, as controller-runtime's
// envtest does (its apiserver flags included: the ServiceAccount admission plugin is off, since
// no controller creates ServiceAccounts). Tests of kube/kubetest's deployment controller stand-in
// run the same scenarios on such a bed and on the full one. EnvtestAssets(t) gives envtest
// itself a KUBEBUILDER_ASSETS directory of the bed's etcd and kube-apiserver.
//
// # Targets
//
// CreatePodinfo(ctx, client, ns, name, image, replicas) creates a target as the seeds'
// kustomize/podinfo ships it: PodinfoDeployment (app=name, container podinfod, port 9898) and
// its CPUAutoscaler, from replicas to twice as many at 99% CPU. The bed serves no metrics API,
// so the HPA controller finds the scale target but never scales. It returns its error rather
// than failing a test, so that workers creating many targets at once can call it.
//
// # CRDs
//
// InstallCRDs(t, cfg, crds...) creates or updates CRDs and waits until every served version
// answers. TrafficSplitCRD() is the SMI TrafficSplit CRD as linkerd-smi ships it (v1alpha1
// stored, v1alpha2 served, no conversion); TrafficSplitCRD("v1alpha3", "v1alpha4") and
// HTTPRouteGroupCRD() serve other versions. GatewayAPICRDs(t) reads the standard-channel
// Gateway API CRDs of GatewayAPIVersion from the module cache, IstioCRDs(t) Istio's
// VirtualService, DestinationRule and Gateway CRDs of istio.io/api IstioAPIVersion
// (IstioCRDServing narrows their served versions). FlaggerCRDs(t) reads Flagger's own CRDs
// (Canary with its status subresource and printer columns, MetricTemplate, AlertProvider) of
// FlaggerVersion from the module cache; CanaryCRD(t) is its Canary CRD. ScaledObjectCRD(t) reads
// KEDA's ScaledObject CRD (keda.sh/v1alpha1) of github.com/kedacore/keda/v2 KEDAVersion from the
// module cache (no KEDA operator runs: ScaledObjects are only stored). CRDs are cluster-wide and stay
// installed: tests that need different served versions of one CRD run one after the other.
//
// # Prometheus and the Linkerd-shaped exporter
//
// SharedPrometheus(t) returns the binary's Prometheus (scrape interval 1 s, query log on) and
// the linkerdexp.Exporter it scrapes. Each test writes series under its own namespace label:
//
//	prom, exp := testenv.SharedPrometheus(t)
//	exp.SetTraffic(linkerdexp.Workload{Namespace: ns, Deployment: "podinfo"},
//		linkerdexp.Traffic{RPS: 100, FailureRatio: 0.1})
//	v := prom.WaitForValue(t, query) // polls until the query yields a number
//
// Prometheus is ready in well under a second but scrapes first about 5 s after it starts (its
// discovery update interval is fixed), hence one per test binary, and polling instead of
// sleeping. rate() reads low until its window has filled; ratios of rates and
// histogram_quantile are right at once (the latter interpolates inside a bucket: assert a
// range). A target without traffic gives NaN, which QueryValue reports as ErrNoData.
// StartPrometheus(t, targets...) starts one for a single test; Kill and Restart make
// Prometheus unavailable for a while.
//
// # Restarting kube-apiserver
//
// On a bed of the test's own (Start, not Shared), env.RestartAPIServer(t) stops kube-apiserver
// and starts it again on the same port with the same certificates and tokens while etcd and
// kube-controller-manager keep running: clients made before reconnect by themselves and find
// the cluster's state as it was. StopAPIServer and StartAPIServer do the two halves, to hold
// the apiserver down while something happens.
//
// # Counting requests and queries
//
// With Options.Audit the apiserver writes an audit log (every request, level Metadata).
// env.AuditMark(t) makes a marker request and waits until the log has it; requests made after
// it are counted by env.AuditSince(t, mark).ForUser(user).Counts(), per (user, verb,
// resource), one per audit ID. env.AuditLog(t).Window(from, to) selects by time instead.
// The log is never rotated (see auditLogMaxSizeMB), so counts are exact at any size.
//
// # Size
//
// Services get ClusterIPs from ServiceCIDR (10.0.0.0/16): room for the three Services of
// thousands of targets.
// Likewise prom.QueryMark(t) and prom.QueriesSince(t, mark, filter) count Prometheus queries.
// Give the client under test its own identity (NewUser) so the bed's own requests
// (controller-manager, kubelet stand-in, waits) do not count.
package testenv
