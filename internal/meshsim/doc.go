// Package meshsim is a simulated data plane (Linkerd's, Istio's sidecars, an ingress-nginx
// controller) for end-to-end tests on the test bed
// (internal/testenv): no containers and no Linkerd run here, so this package plays the pods
// of a namespace's Deployments and the proxies between them, on loopback, and routes real
// HTTP requests by the route objects canarykit's routers write, watched through the API
// server.
//
// # Wiring an end-to-end test
//
//	env := testenv.Shared(t)
//	testenv.InstallCRDs(t, env.Config(), testenv.TrafficSplitCRD()) // before the mesh starts
//	ns := env.Namespace(t)
//	env.Kubelet(t, ns, "", testenv.ReadyNow())      // pods become Ready, hence endpoints
//	prom, exp := testenv.SharedPrometheus(t)      // Prometheus scrapes exp
//	mesh := meshsim.Start(t, meshsim.Options{
//		Config: env.Config(), Namespace: ns,
//		Aliases:  []string{"test"},              // the demo manifests' URLs name namespace "test"
//		Exporter: exp,                           // the pods' proxies record here
//		Versions: map[string]meshsim.Behavior{   // by image tag (or whole image)
//			"3.1.1": {ErrorRate: 0.1},           // the release under test fails 10 %
//		},
//	})
//	lt := &webhooktest.LoadTester{}
//	mesh.ServeLoadTester("flagger-loadtester", lt) // the demo manifests' http://flagger-loadtester.test/
//	// webhook.Options{Transport: mesh}: hook calls reach it by the manifest's URL, and its
//	// commands (curl … | grep token, hey -z 2m -q 10 -c 2 …) run against the mesh.
//	load, _ := mesh.StartLoad(loadgen.Config{URL: "http://podinfo.test:9898/", Rate: 50})
//	... run the canary.Rollout with kube's workload and a mesh router ...
//	for _, s := range mesh.Traffic().Mix("podinfo") { // per TrafficSplit generation
//		assert.InDelta(t, s.Want*float64(s.RouteRequests), float64(s.Requests), 1)
//	}
//
// # Pods
//
// Every Deployment of the namespace gets a loopback HTTP server, started when a request first
// goes to one of its pods, that plays all its pods: it answers as podinfo does (package
// podinfo: GET /, /status/{code}, /delay/{s}, POST /token, /healthz, ...), reporting the pod's
// name as its hostname and its image tag as its version. How a pod behaves follows the image
// of its first container, looked up in Versions by whole image reference, then by tag
// (default: healthy): ErrorRate of its answers are 500s (spread evenly over each Deployment's
// requests to each path, or drawn at random with Behavior.Seed), after Latency plus up to
// Jitter. Since the image is the pod's, pods follow their Deployment the way real ones do: when canarykit
// copies the canary's template into podinfo-primary, the primary's new pods behave as the new
// version and its old ones as the old until the rollout replaces them. SetVersion changes a
// version's Behavior at run time. Health probes (/healthz, /readyz) are never failed.
//
// # Services and endpoints
//
// A Service's endpoints are the pods its selector matches whose Ready condition is true
// (the kubelet stand-in sets it) and that are not being deleted, as the EndpointSlice
// controller would compute them (it cannot here: the stand-in's pods have no IP). Each pod
// belongs to the Deployment whose selector matches it. Requests to a Service are spread
// round-robin over its endpoints.
//
// # The mesh client
//
// Mesh is an http.RoundTripper, and Client returns an http.Client over it: a request to
// http://<service>.<namespace>[.svc[.cluster.local]][:port]/… (namespace: Options.Namespace
// or an alias) goes through a simulated outbound proxy, every other request passes through
// unchanged. Listen opens a loopback listener in front of a Service for tools outside the
// process; ServeService makes an in-process handler reachable by a Service name.
//
// # Routing, as Linkerd's proxy does it
//
// A request addressed to a Service is routed by its route objects' current state, watched
// through the API server in whatever version it serves (the dynamic client; the mesh package
// is not used):
//
//   - SMI TrafficSplit (split.smi-spec.io, any of v1alpha1..v1alpha4) whose spec.service is
//     the Service: weights as integers or quantities ("50", "500m"; linkerd-smi serves
//     v1alpha1 and v1alpha2 without conversion, so both forms are read in every version).
//     A split with spec.matches (v1alpha3+) applies only to requests meeting one of the
//     referenced HTTPRouteGroups' matches (methods, pathRegex, header regexes, all anchored);
//     others fall to a split without matches, or else to the Service's own pods.
//   - Gateway API HTTPRoute (gateway.networking.k8s.io) attached to the Service (GAMMA:
//     parentRef group "" or "core", kind Service, optional port). Matches (path Exact,
//     PathPrefix or RegularExpression; headers and query parameters Exact or
//     RegularExpression; method) are ranked by Gateway API's precedence: exact path, longest
//     prefix (regular expressions after prefixes), method, most headers, most query
//     parameters, then the oldest route, the first by name, the first rule and match. The
//     first match the request meets picks its rule; a rule without matches matches all, a
//     rule without backendRefs sends to the parent Service (as Linkerd does). No match: 404.
//     Filters and hostnames are ignored.
//   - Istio VirtualService (networking.istio.io, any served version) whose hosts name the
//     Service (short name, <svc>.<ns>, <svc>.<ns>.svc[.cluster.local]) and that applies to the
//     sidecars (no gateways, or "mesh" among them): its http[] routes in order, the first whose
//     match[] the request meets (any of them; headers and uri exact, prefix or regex, a regex
//     matching the whole value as in Envoy; method) chooses among its weighted
//     route[].destination hosts; a route without match meets every request; none: 404. With
//     Flagger's A/B VirtualService, matching requests go to the canary and the default route
//     to the primary.
//   - A Service with both: the TrafficSplit wins, as in Linkerd, where linkerd-smi makes a
//     ServiceProfile of it and a ServiceProfile takes precedence over HTTPRoutes. A Service
//     with neither: its own pods. Requests to podinfo-canary and podinfo-primary are
//     therefore not split.
//
// The backend is chosen by smooth weighted round-robin: after n requests under one route
// version each backend has had its share to within one request, where a seeded random choice
// would be off by ±1.3 points (one sigma) after 1,000 requests at 20 %. Weight steps are
// seen as soon as the watch delivers them (Weights reports what the mesh applies now).
//
// When the proxy cannot forward (no rule matched: 404; a rule without weight or an invalid
// backendRef: 500; no ready endpoint: 503) it answers itself with an l5d-proxy-error header,
// as Linkerd does; a Service the namespace lacks (ErrUnknownService) or a port it lacks
// (ErrNoPort) fails the request as DNS or the connection would.
//
// # The ingress
//
// Ingress returns a simulated ingress-nginx controller for requests from outside the cluster
// (any host): it routes by the namespace's networking.k8s.io/v1 Ingresses, and by a canary
// Ingress's annotations (canary, canary-weight[-total], canary-by-header with -value or
// -pattern, canary-by-cookie; header, then cookie, then weight) as ingress-nginx does. Unmeshed
// (the default, seed 000's setup) it sends each request straight to a ready pod of the
// backend Service, so no TrafficSplit, HTTPRoute or VirtualService sees it; Meshed, it sends
// through the mesh, whose route objects then apply. Ingress.StartLoad is a browser's load.
//
// # Metrics and the measured mix
//
// Every answer a pod gives is recorded in the linkerdexp.Exporter as that pod's inbound proxy
// would record it (namespace, deployment, pod, status code, latency from sending the request
// to the end of the response), so Prometheus scraping the exporter answers Flagger's
// request-success-rate and request-duration queries about podinfo and podinfo-primary.
// Answers the proxy makes itself are not recorded there, as in Linkerd. The series' authority is
// the host the request was addressed to (podinfo.test:9898, or the ingress's host), as a
// Linkerd proxy's inbound authority label shows it. The same answers are recorded in Istio's
// format (istio_requests_total and istio_request_duration_milliseconds as the destination's
// sidecar reports them: reporter="destination", destination_workload,
// destination_workload_namespace, destination_service_name, response_code) and every request
// the ingress routes in ingress-nginx's (nginx_ingress_controller_requests and
// nginx_ingress_controller_request_duration_seconds / response_duration_seconds with namespace,
// ingress, service, canary, status); those series are attached to the exporter
// (linkerdexp.Exporter.Attach), so one scrape carries every format.
//
// Traffic counts every request by Key: Service addressed, route object version (kind, name,
// generation, rule) that decided, backend Service chosen with its weight, and the Deployment
// whose pod answered. Snapshots are marks (later.Since(earlier) is the traffic between two);
// Traffic.Mix gives, per route version, each backend's wanted and measured share, so an e2e
// test asserts that every weight step was followed without any timing: each request is
// attributed to the generation of the route object that routed it.
//
// # Load and the loadtester's commands
//
// StartLoad runs webhook/loadgen's bounded generator through the mesh (rate, concurrency,
// duration, request budget; stoppable), counting answers by status. ParseHey reads a hey
// command line into its configuration; Run executes the demo manifests' command lines (curl, grep and
// hey pipelines) against the mesh, and ServeLoadTester serves a webhooktest.LoadTester that
// runs them as flagger-loadtester would: blocking types through its Run, background ones
// (type cmd) in the background, once at a time per canary and command.
//
// Everything listens on loopback only; Close (registered with t.Cleanup by Start) stops the
// loads and commands, the informers and every server, waiting for their goroutines.
package meshsim
