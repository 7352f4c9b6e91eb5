// Package kubetest is a kit for testing rollouts on a real API server: controller-runtime's
// envtest (etcd and kube-apiserver only), canarykit's own test bed, or a throwaway cluster
// without nodes. Everything takes a *rest.Config.
//
// No kubelet runs on such clusters, so no pod ever becomes ready and no release ever starts;
// on envtest no kube-controller-manager runs either, so a Deployment gets no pods and no status
// at all. The kit stands in for both, and for the mesh's metrics:
//
//	func TestRelease(t *testing.T) {
//		// cfg from envtest.Environment.Start; ns a namespace of the test
//		kubetest.RunDeployments(t, cfg, ns)                     // envtest only: no kube-controller-manager
//		kubetest.RunKubelet(t, cfg, ns, "version=1", kubetest.ReadyNow())
//		kubetest.RunKubelet(t, cfg, ns, "version=2", kubetest.NeverReady())
//		metrics := &kubetest.WeightMetrics{Router: router, Target: target,
//			Value: func(query string, w canary.Weights) (float64, error) { return 99.9, nil }}
//		d, err := driver.New(driver.Options{Config: cfg, Router: router, Metrics: metrics})
//		...
//	}
//
// examples/envtest is the whole pattern, as a module of its own.
//
// # The kubelet stand-in
//
// RunKubelet (StartKubelet outside tests) watches the pods of a namespace that match a label
// selector and writes the status a kubelet would, through the status subresource: Running with
// the Ready condition true at once (ReadyNow), after a delay (ReadyAfter), never (NeverReady),
// crash-looping (CrashLoop: not ready, CrashLoopBackOff, a restart count that grows), or ready
// for only the first N pods it sees (Behavior.ReadyPods). Kubelet.SetBehavior changes it
// mid-test. No container runs. Pods stay unbound (no nodeName, no Node): the apiserver deletes
// unbound pods at once, so scale-downs work without a kubelet to confirm. A deployment
// controller (the real one, or the stand-in below) computes availability from that status: a
// pod is available when its Ready condition is true, for minReadySeconds.
//
// # The deployment controller stand-in
//
// RunDeployments (StartDeployments) is for clusters without kube-controller-manager. It creates
// the pods a Deployment asks for, owned by the Deployment, and writes the Deployment's status
// from them with the deployment controller's rules: observedGeneration; replicas, updated,
// ready, available and unavailable counts; Available (MinimumReplicasAvailable when at least
// replicas − maxUnavailable pods are available, else MinimumReplicasUnavailable); Progressing
// (ReplicaSetUpdated while a rollout moves, NewReplicaSetAvailable once complete, and
// ProgressDeadlineExceeded when it has not moved for progressDeadlineSeconds; a complete
// Deployment does not time out until it moves again). A test that runs the same scenarios on
// canarykit's bed with and without kube-controller-manager checks that both give the same
// verdicts: pods ready, never ready, crash-looping, one of three ready, readiness arriving late,
// a new template that never becomes ready (the old pods keep the Deployment available and the
// rollout times out), a new template rolled out, scaled to zero and back; and
// examples/envtest's never-ready canary is rolled back for its progress deadline on both.
//
// What the stand-in does not model: ReplicaSets (there are none; pods carry a pod-template-hash
// label of the stand-in's own); maxSurge (every pod of a new template is created at once; old
// pods are kept while maxUnavailable needs them, so availability never drops lower than with the
// real controller, but a rollout briefly runs up to twice the replicas); spec.paused, revision
// history and rollbacks; garbage collection of anything but the pods of a deleted Deployment;
// orphan adoption. Never run it next to a real deployment controller: both would manage the
// same pods.
//
// # Metrics without a mesh
//
// WeightMetrics is a canary.MetricProvider double (kube/driver's Options.Metrics) that answers
// each query from the weights the route has at that moment: a canary that fails from half the
// traffic on, or at once, without any traffic. For releases that read a real Prometheus, the
// linkerdexp subpackage serves Linkerd-proxy-shaped series (response_total and
// response_latency_ms) for a test Prometheus to scrape. Where a test wants real HTTP traffic
// through the routes a release writes, the meshsim subpackage is a simulated Linkerd data plane
// on loopback: it plays the Deployments' pods (podinfo's API, a failure rate per image tag),
// takes endpoints from the pods' Ready condition and routes by the TrafficSplits and
// HTTPRoutes it watches; on the envtest shape it runs on the two stand-ins.
package kubetest
