// Package mesh holds canarykit's traffic routers: implementations of canary.MeshRouter that
// shape the route objects dividing a target's traffic between "<apex>-primary" and
// "<apex>-canary", the way Flagger names them (canary.Target derives the names).
//
// # Which router
//
//	Linkerd 2.14 and later   HTTPRoute      gateway.networking.k8s.io HTTPRoute, parentRef the apex
//	                                        Service (GAMMA), or per target the Gateways and
//	                                        Services given to WithParents, and the
//	                                        hostnames given to WithHostnames; weights, and
//	                                        header/cookie A/B
//	Linkerd 2.12 and 2.13    TrafficSplit   split.smi-spec.io through the linkerd-smi extension
//	                                        (v1alpha1 stored, v1alpha2 served): weights only
//	Linkerd 2.11 and older   TrafficSplit   v1alpha1 built in: weights only
//	other SMI meshes         TrafficSplit   v1alpha3/v1alpha4: weights, and A/B via HTTPRouteGroup
//	no mesh                  Kubernetes     switches the apex Service's selector: blue/green only
//	Istio                    Istio          networking.istio.io VirtualService (v1, or v1beta1)
//	                                        and the primary's and canary's DestinationRules:
//	                                        weights, and header/cookie A/B; per target the
//	                                        Istio service given to WithService
//	ingress-nginx            NGINX          a canary Ingress "<ingress>-canary" copied from the
//	                                        user's Ingress, with canary annotations: weights,
//	                                        and one header and one cookie for A/B
//
// A/B testing (canary.Spec.Match) needs a route that can match requests: HTTPRoute, Istio, NGINX, or
// TrafficSplit v1alpha3/v1alpha4 with the SMI HTTPRouteGroup CRD. The other routers refuse a
// target with match conditions with canary.ErrMatchUnsupported, which ends the Rollout. Istio
// matches by every field of a canary.Match, HTTPRoute by headers, uri, method and
// queryParams, NGINX and TrafficSplit by headers only; a router refuses a field it cannot
// match by, wrapping canary.ErrMatchUnsupported and naming it (match[0].uri), before any
// request (see Match conditions).
//
// # Traffic mirroring
//
// Traffic mirroring (canary.Spec.Mirror: canary.Weights.Mirrored routes every request to the
// primary and copies canary.Target.Mirror percent of them to the canary, whose responses are
// dropped) needs Istio or HTTPRoute, which write it as Flagger's routers do. Istio: on the
// weighted route, mirror {host: "<apex>-canary"} (with the destination port when the router
// has one) and mirrorPercentage {value: <Mirror>} unless every request is copied. HTTPRoute: on
// the weighted rule, a RequestMirror filter to the "<apex>-canary" Service at the service port,
// with percent unless every request is copied (a field of the standard channel's CRDs of the
// Gateway API release tested, v1.4; a CRD without it prunes it, and the mirror then copies
// every request, and Reconcile rewrites the route each time). Weights reads the mirror
// back; a step stays one JSON patch (Istio: the HTTP routes written whole, with or without
// the mirror; HTTPRoute: the mirror set, or added and removed in the same patch so the removal
// applies whether it is there or not); unmirrored weights remove it for any target
// without match conditions, one with no Target.Mirror too (a retirement's switch to the
// primary). Reconcile keeps a mirror to the canary only for a target that mirrors, and puts its
// share right; any other mirror is drift it removes.
// TrafficSplit, Kubernetes and NGINX refuse a target that mirrors, and mirrored weights, with
// canary.ErrMirrorUnsupported.
//
// # Session affinity
//
// Session affinity (canary.Spec.SessionAffinity; the router gets the settings and the
// release's cookies in canary.Target.Affinity, and never makes a cookie up) is written as
// Flagger writes it. With canary weight and the release's cookie: first a route (Istio) or rule
// (HTTPRoute) for requests whose Cookie header matches the regular expression
// ".*<name>.*<value>.*" (canary.CookieRegex: name and value escaped) with all weight on the
// canary; with a primary cookie, then one for it with all weight on the primary; last the
// weighted route, whose canary destination (Istio: headers.response.add; HTTPRoute: a
// backendRef ResponseHeaderModifier filter) adds "Set-Cookie: <cookie>; Max-Age=<maxAge>" with
// the cookie's attributes, and whose primary destination adds the primary cookie's (Max-Age the
// analysis interval). At weight 0 after a release, a route or rule for the cookie to expire
// (canary.Affinity.Expiring) with the weighted route's destinations, weights and mirror adds
// "Set-Cookie: <cookie>; Max-Age=-1" to responses, before the weighted route; with no cookie to
// expire the weighted route stands alone. Istio's cookie routes keep the service's match
// conditions (their headers replaced by the cookie's, as Flagger merges them), rewrite,
// timeout, retries, CORS policy and headers, HTTPRoute's cookie rules the rules' timeouts. The
// weights read back are the last route's (or rule's) with both destinations: the weighted one.
// A step stays one JSON patch: for a target with session affinity it writes the HTTP routes
// (the rules) whole, checked for ownership in the same request. Reconcile puts cookie routes
// that drifted (another cookie, a changed match) back in shape, and removes them from the route
// of a target without session affinity. Settings and cookies are checked before any request
// (canary.Affinity.Validate: errors wrap canary.ErrInvalidSpec); session affinity with A/B
// match conditions is refused. TrafficSplit, Kubernetes and NGINX refuse a target with session
// affinity with canary.ErrSessionAffinityUnsupported.
//
// # TrafficSplit versions
//
// Unless TrafficSplitOptions.Version pins one, the router asks API discovery once which
// split.smi-spec.io versions the server serves and picks, for every target alike:
// v1alpha4, else v1alpha3 (they can match; reading every route through them keeps matches
// visible), else v1alpha2, else v1alpha1 (what linkerd-smi serves). With linkerd-smi's pair
// (v1alpha1 and v1alpha2) it writes v1alpha2's integer weights, which clients of both versions
// decode, and reads through v1alpha1, whose quantity weights also decode what a v1alpha1 client
// may have stored ("500m"): without a conversion webhook the server returns stored weights as
// they are. HTTPRouteGroups use the TrafficSplit's version when served, else the other of
// v1alpha3/v1alpha4. A server without the group answers with ErrCRDMissing naming
// trafficsplits.split.smi-spec.io and the linkerd-smi extension (Linkerd ≥ 2.12 serves
// TrafficSplit only with it).
//
// # Istio
//
// The Istio router writes, as Flagger's does, a VirtualService named after the apex service
// (hosts: the apex service, after the hosts of the service given to WithService unless they
// list it or "*"; gateways: the ones given, else "mesh"; neither for a delegate VirtualService,
// istioapi.Service.Delegation, which a root VirtualService delegates to) and DestinationRules
// "<apex>-primary" and "<apex>-canary" whose host is that Service, with the service's traffic
// policy if any. On a VirtualService bound to the mesh, where every sidecar routes by its hosts,
// a host naming another Service of the cluster ("*", another short name, another
// name.namespace.svc name, a wildcard over the cluster's names) is refused before anything is
// written (istioapi.Service.HostConflicts): it would take that Service's traffic to the
// target's pods. Flagger writes them; Istio itself refuses only "*" there.
// Every HTTP route carries the service's rewrite, timeout, retries, CORS policy and header
// operations; the weighted route matches the service's match conditions, or with A/B match
// conditions each of them with its headers replaced by each A/B condition's (Flagger's merge),
// and the second route sends what the service matches to the primary; match conditions that
// would take more than 1 MiB of the VirtualService (that product grows fast) are refused
// (canary.Permanent) before anything is written. The service's types and
// checks are mesh/istioapi's (istioapi.Service; WithService refuses what Validate refuses,
// before any request). Unless
// IstioOptions.Version pins one, it asks API discovery once which networking.istio.io
// versions are served and uses v1 (Istio ≥ 1.22), else v1beta1; Istio's CRDs store one
// schema under every version, so a route written through one reads the same through the
// other. A destination without weight in the weighted route weighs 0, as Istio reads it;
// weights are written explicitly, zero included. Reconcile
// reads three objects (the VirtualService and both DestinationRules); fields of theirs the
// target's service does not configure (retries or a traffic policy someone added, a mirror
// other than a mirrored step's, a fault) and other values of those it does are drift it
// removes. SetWeights' patch writes the HTTP routes whole for a target without A/B match
// conditions (the weighted route with its mirror, or with session affinity the cookie routes
// too, see Session affinity), so a cookie route left first by a release with session
// affinity cannot take the weights meant for the weighted route; with A/B match conditions it
// touches only the first HTTP route's two weights, the weighted route's, and tests in the same
// request that the second route is the A/B target's route to the primary (its one destination,
// weight 100), so that bodies stay small however many match conditions there are. Routes in
// another layout (an earlier release's cookie routes first) fail that test, and SetWeights
// then reads the VirtualService and writes its routes whole: all on the primary means every
// route.
//
// A TCP service (istioapi.Service.TCP, a Canary's spec.service.appProtocol tcp) gets, as
// Flagger writes it, one TCP route instead of HTTP routes: the weighted destinations, matching
// the ports of the service's match conditions; SetWeights patches that route's two weights,
// in one request. What only HTTP routes do is refused before any request: A/B match
// conditions (canary.ErrMatchUnsupported: Flagger's A/B test would send every request to
// the canary), mirroring (canary.ErrMirrorUnsupported), session affinity
// (canary.ErrSessionAffinityUnsupported), and the service's HTTP fields (Validate). A route
// of the other kind (the service changed protocol) is rewritten, all traffic on the primary.
//
// # Route metadata, timeouts and service fields
//
// HTTPRoute.WithMetadata and Istio.WithMetadata write labels and annotations (a Flagger
// Canary's spec.service.apex) on the HTTPRoute or the VirtualService (not the
// DestinationRules), as Flagger does: with canary.ApplyMetadata, so a key dropped from them is
// removed at the next Reconcile and keys other controllers set are kept. The TrafficSplit and
// the NGINX canary Ingress get none, as in Flagger. HTTPRoute.WithTimeouts writes
// timeouts.request and backendRequest (Gateway API Durations, the backend's no longer than the
// request's) on every rule of the route, as Flagger writes a Canary's spec.service.timeout and
// backendTimeout; SetWeights' patch leaves them as they are. HTTPRoute.WithService writes a
// Canary's spec.service match, headers, rewrite, mirror and corsPolicy (gatewayapi.Service) as
// Flagger's Gateway API router does: every rule matches the service's matches (an A/B rule
// each analysis condition merged into each of them, see Match conditions) and carries a RequestHeaderModifier, a ResponseHeaderModifier, a URLRewrite
// filter, a RequestMirror filter per mirror entry (every request copied to that Service) and
// a CORS filter, in that order, before a mirrored step's RequestMirror to the canary (session
// affinity's expiring Set-Cookie joins the ResponseHeaderModifier: Gateway API allows one of
// each in a rule; it allows any number of RequestMirror filters, within a rule's 16 filters,
// so a Canary's mirrors are at most gatewayapi.MaxMirrors); SetWeights' patch sets the
// weighted rule's filters whole, the service's and the step's mirror, so a step keeps them and
// stays one request. Only a mirror to the canary Service in the route's namespace reads back
// as a mirrored step. The CORS filter is in Gateway API's experimental channel only: the
// standard channel's HTTPRoute CRD (v1.4 included) refuses a route with it, and the router's
// error (permanent) says to install the experimental channel's CRD or leave corsPolicy out; the
// test bed proves both channels, and the refusal comes before the target's workload is
// touched (see Before a target's first release). What Gateway API cannot express
// (gatewayapi.Service.Problems) is refused when the router is made; a mirror to the target's
// own apex, primary or canary Service (gatewayapi.Service.MirrorConflicts: its copies would
// loop through the route, double the primary's requests or feed the canary whatever its
// weight) and a rule that would hold more than 64 matches once the A/B conditions merge in, at
// Reconcile or SetWeights, before any request.
//
// # Before a target's first release
//
// HTTPRoute, TrafficSplit, Istio and NGINX are canary.RoutePreflighters: before the Bootstrap
// of a target never initialized, a Rollout calls PreflightRoute, which refuses what Reconcile
// would refuse before writing (a target or match conditions the router cannot route, a route
// CRD the API server does not serve, for NGINX a user's Ingress that is missing, is itself a
// canary Ingress or routes nothing to the apex Service) and then asks the API server, in dry
// runs that store nothing, whether it would create each object Reconcile would make (the
// HTTPRoute; the TrafficSplit and an A/B target's HTTPRouteGroup; the two DestinationRules
// and the VirtualService; the canary Ingress). So a route that a CRD's validation rules, a
// ValidatingAdmissionPolicy or a validating webhook refuses stops the release before the
// primary and the Services are made, with the error Reconcile would return. An object of
// that name there already is read, and refused as Reconcile would refuse it if it is not the
// router's for the target (ErrNotOwned: see Ownership). Only those answers refuse; any other
// (an admission webhook that serves no dry run, a Forbidden that may be RBAC's, a server not
// reached) leaves the verdict to Reconcile. It costs one request (HTTPRoute, TrafficSplit),
// two (NGINX, which reads the user's Ingress; TrafficSplit with match conditions) or three
// (Istio), once per target, and one more read per object there already.
//
// # Weights read back
//
// Weights are relative in SMI and Gateway API. Weights reads the primary's and the canary's
// weights and returns their shares of the two's sum in percent: weights summing to 100 come
// back as they are; others are scaled, the canary's share rounded to the nearest percent (a
// tie goes to the primary) and the primary taking the rest. So v1alpha1 quantities "500m" and
// "500m" read as 50/50, and "1" and "3" as 25/75. A route without weight on either is an
// error.
//
// # Match conditions
//
// Header conditions (cookies are the "cookie" header, e.g. regex
// "^(.*?;)?(type=insider)(;.*)?$" as in Flagger) translate as follows. HTTPRoute: exact →
// Exact, regex → RegularExpression, and prefix/suffix, which Gateway API lacks, → a
// RegularExpression of the escaped literal: "^p.*" and ".*s$" (canary.StringMatch.AsRegex).
// SMI HTTPRouteGroup header values are regular expressions: exact "v" → "^v$", prefix and
// suffix as above. Istio: exact, prefix and regex as they are, suffix → the regular expression
// above (Istio matches a regex against the whole value). The anchored forms mean the same
// whether the data plane matches the whole value or searches it. With match conditions,
// HTTPRoute has two rules: the conditions with the weighted backends, then everything else to
// the primary (Istio's VirtualService likewise has two HTTP routes); TrafficSplit lists the
// HTTPRouteGroup in its matches, and requests that do not match go to the apex service, which
// selects the primary.
//
// The other fields of a canary.Match (a Flagger analysis.match entry, an Istio
// HTTPMatchRequest) are written as Flagger writes them. Istio writes them all
// (istioapi.FromMatch: name, uri, scheme, method, authority, queryParams, port,
// ignoreUriCase, withoutHeaders, sourceLabels, sourceNamespace; a suffix as the regular
// expression). HTTPRoute writes uri as the path (exact → Exact, prefix → PathPrefix, regex
// and suffix → RegularExpression), method as the method (one exact method of Gateway API's
// nine), queryParams as headers are written (exact → Exact, else an anchored
// RegularExpression), and refuses, wrapping canary.ErrMatchUnsupported, what an
// HTTPRouteMatch lacks (authority, scheme, port, ignoreUriCase, withoutHeaders, sourceLabels,
// sourceNamespace), a path the HTTPRoute CRD refuses (not absolute, "//", "/./", ...), another
// method match, and more than 16 headers or query parameters in one match
// (gatewayapi.Service.Problems); name, which matches nothing, is not written (as for the
// service's matches). NGINX and TrafficSplit refuse any field but headers (canary.HeadersOnly).
//
// With a service's own matches (Istio.WithService, HTTPRoute.WithService: a Flagger Canary's
// spec.service.match), each A/B condition merges into each service match
// (istioapi.MergeMatches; the HTTPRoute's rules alike): a mapping the A/B condition sets
// (headers, queryParams, withoutHeaders, sourceLabels) replaces the service match's, as
// Flagger replaces headers and source labels (and Gateway API's query parameters); a
// single-valued field it sets (uri, method, authority, ...) is added, where Flagger keeps the
// service match's and drops the A/B condition's, and a field both set is refused at
// Reconcile, before any request (istioapi.MergeProblems, canary.ErrInvalidSpec). The primary's
// route matches the service's matches.
//
// # NGINX ingress
//
// The NGINX router does what Flagger's ingress router does. The user's Ingress
// (canary.Target.IngressName: a Flagger Canary's spec.ingressRef) is read, never written; the
// router keeps a copy named "<ingress>-canary" whose backends naming the apex Service (rules'
// paths and the default backend) name "<apex>-canary" instead, with the user's labels and
// annotations (not kubectl's last-applied-configuration, nor canary annotations, nor a GitOps
// tool's marks of its own objects: Flux's *.toolkit.fluxcd.io/*, Argo CD's
// app.kubernetes.io/instance and argocd.argoproj.io/*, with which the tool would prune the
// copy as an object missing from its source) and
// ingress-nginx's canary annotations (prefix NGINXOptions.AnnotationPrefix, default
// nginx.ingress.kubernetes.io):
//
//	weighted      canary: "true", canary-weight: "<canary percent>"
//	A/B, weight > 0
//	              canary: "true", canary-weight: "0",
//	              canary-by-header: <name> with canary-by-header-value: <exact> or
//	              canary-by-header-pattern: <prefix, suffix or regex as a regex>,
//	              canary-by-cookie: <name> (requests whose cookie <name> is "always")
//	A/B, weight 0 canary: "true", canary-weight: "0"
//
// ingress-nginx tries the header, then the cookie, then the weight, so in A/B tests requests
// that do not match stay on the primary. It matches one header and one cookie: each match
// entry holds one condition, a "cookie" condition's exact value names the cookie (as in
// Flagger), and anything else is refused with canary.ErrMatchUnsupported. After promotion or
// rollback the canary Ingress stays, at canary-weight "0", as Flagger leaves it. Reconcile
// (two GETs) brings the copy back in line with the user's Ingress, keeping the weights: the
// labels and annotations it copied are recorded (canary.ApplyMetadata's canarykit.dev/metadata),
// so one the user removes is removed from the copy, and those others wrote on the canary
// Ingress itself are kept. Weights are read back from canary-weight (out of
// canary-weight-total when someone set it). Flagger also copies the user's Ingress on every
// tick; given an IngressCache (NGINXOptions.Cache: a watch of the namespace's Ingresses, the
// kube driver's kube.Cluster), SetWeights does too, from the cache: an edit of the user's
// Ingress during a release (a host, a path, TLS, an annotation) reaches the canary Ingress at
// the next step, and a step with nothing changed stays one patch. Without one, the copy
// follows at Reconcile, a release's start.
//
// # Ownership
//
// A router changes only objects labelled app.kubernetes.io/managed-by (canary.LabelManagedBy)
// with its ManagedBy value (default canary.ManagedBy, "canarykit"), which it sets on every
// object it creates. An object of the route's name without it (a hand-written one, another
// controller's, Flagger's for another Canary) is never changed: the router returns a permanent
// error wrapping ErrNotOwned that names its manager. The exception is the route Flagger
// generated for the target's own Canary, when canarykit takes over a Canary Flagger
// initialized: an object whose controller owner reference is the flagger.app Canary named
// canary.Target.CanaryName (and, when the Target records it, of UID canary.Target.CanaryUID;
// canary.FlaggerOwned) is the router's, labelled and claimed for the target at its next write
// (as below), its weights and that owner reference kept.
//
// Route objects are named after the apex Service (the NGINX canary Ingress after the Ingress),
// so two targets can name the same ones: two Canaries whose service name is the same, or
// whose ingressRef names the same Ingress. Every object a router creates records the target it
// was made for in the annotation canarykit.dev/target (canary.AnnotationTarget: the target
// Deployment's name, as kube's generated objects record it), and the router changes only the
// objects made for the target at hand: Reconcile and SetWeights refuse one made for another
// target with a permanent error wrapping ErrNotOwned that names the object and its target,
// Weights refuses to read it the same way (another target's weights are not this one's), and
// Remove leaves it. SetWeights' JSON patch tests the annotation along with the label, in the
// same request. An object labelled as the router's that records no target was made before
// routers recorded theirs: it is taken as the target's and claimed (annotated) at the router's
// next write of it, Reconcile included, so a route made earlier is adopted as before. (An
// NGINX canary Ingress recording no target is taken as the target's only if one of its
// backends is the target's canary Service, which tells the targets sharing an Ingress apart.)
// The Kubernetes router owns no object: it refuses (Reconcile, Weights) an apex Service that
// records another target in canarykit.dev/target, as kube's Workload writes it.
//
// Options.Owner adds an owner reference to created objects; DeploymentOwner makes the target
// Deployment their controller (one GET per object created), without blockOwnerDeletion.
//
// # Other writers of the route
//
// A GitOps tool re-applying its copy of the route (e.g. all traffic on the primary, by
// server-side apply) is not fought: SetWeights writes the step's weights at the next step
// without reading first, so the route is written once per step whatever happens between steps,
// and never on an idle tick. The writer's weights hold
// until the next step; a copy that sends traffic to the canary outside a release is the
// writer's to fix, since nothing is written between releases.
//
// # Cost and errors
//
// Discovery runs once per router. Reconcile reads the route (one GET; more only to create or
// reshape it); ReconcileWeights (canary.WeightsReconciler, which the engine prefers when a Run
// starts) returns the weights from that same read. SetWeights is one request: a JSON patch whose test operations let the API server
// check, atomically, that the object is still the router's and still in shape, so there is no
// read before the write and no resourceVersion conflict with other writers of the object.
// Weights and ReconcileWeights, which the engine calls when a Run starts, also read an
// HTTPRoute's status: when a controller reports Accepted=False or ResolvedRefs=False for the
// route's current generation and one of the router's parents (Linkerd's policy controller
// writes these for the apex Service), the route is not in
// effect and they return ErrRouteRejected with the controller's reason, instead of letting
// an analysis watch traffic that never shifts. Nothing is read per step, so a rejection that
// comes mid-release is seen by the next Run.
// The TrafficSplit router is also a GenerationRouter: ReconcileGeneration returns the route's
// metadata.generation with its weights, and SetWeightsAt makes the weight patch test that
// generation too (ErrRouteChanged when the spec was edited since, nothing written; a 422 that
// names invalid fields, or any refusal by admission control, is returned as it is). A caller
// that alone writes the route, holding the target's lease, can so keep the route's state from
// its own writes and skip the read when the next Run starts (kube/driver's Target does).
// Routes of two objects (a TrafficSplit with its HTTPRouteGroup) have no single generation and
// are always read. The other routers do not implement it: an HTTPRoute's adoption also reads
// the acceptance its controllers report in its status, Istio's route has DestinationRules
// besides its VirtualService, the NGINX canary Ingress is copied from the apex Ingress at each
// adoption (and at a step, from an IngressCache) and routes by annotations (which do not move the generation), and the Kubernetes
// router's state is the apex Service's selector.
// Errors the engine must not retry (missing CRD, someone else's object, a rejected route,
// forbidden, invalid, a write refused by admission control: an admission webhook's "denied
// the request" or a ValidatingAdmissionPolicy's, whatever its code, which the same write would
// meet at every tick) are marked with canary.Permanent (canary.IsPermanent reports them): the
// Rollout ends the release and routes all traffic back to the primary (a write the policy
// refuses too is reported). A webhook's bare 422 is not taken for a failed JSON patch test.
// Conflicts, timeouts and server errors are not permanent, and the Rollout retries them at the
// next tick.
//
// Istio and NGINX have Remove, which deletes the route objects they made for a target (the
// VirtualService and the two DestinationRules; the canary Ingress), only those labelled as
// theirs and made for the target (or recording no target; see Ownership), never the user's
// Ingress: kube/driver's Retire uses it to hand a target back. Each delete has preconditions on
// the UID and resourceVersion read, so an object replaced or changed meanwhile is read and
// judged again.
//
// # RBAC
//
//	TrafficSplit  split.smi-spec.io trafficsplits: get, create, update, patch (delete: revert)
//	              specs.smi-spec.io httproutegroups: get, create, update, delete (A/B only;
//	              delete when a target stops using A/B)
//	HTTPRoute     gateway.networking.k8s.io httproutes: get, create, update, patch (delete: revert)
//	              "" services: get (only when HTTPRouteOptions.Port is 0)
//	Kubernetes    "" services: get, patch
//	Istio         networking.istio.io virtualservices: get, create, update, patch (delete: Remove)
//	              networking.istio.io destinationrules: get, create, update (delete: Remove)
//	NGINX         networking.k8s.io ingresses: get, create, update, patch (delete: Remove;
//	              list, watch: for a kube.Cluster as NGINXOptions.Cache, the kube driver's)
//	DeploymentOwner  apps deployments: get
//
// The delete rules are needed only to hand a target back (kube/driver's Retire with Revert,
// which also needs kube.RevertRBAC()): Remove for Istio and NGINX, the driver itself for the
// TrafficSplit, HTTPRouteGroup and HTTPRoute. Discovery reads /api and /apis, which the default
// system:discovery role grants.
//
// # The Istio router's client
//
// The Istio router reads and writes VirtualServices and DestinationRules through client-go's
// dynamic client, with small types for the fields it writes (its own for hosts, gateways and
// weighted destinations; mesh/istioapi's, a bounded subset of Istio's API, for what a target's
// service configures), not through Istio's generated clientset (istio.io/client-go). Measured with Go 1.26 against
// istio.io/client-go v1.32.0: the generated clientset requires k8s.io/client-go,
// apimachinery and api v0.35, so taking it would move every canarykit user (and every module
// embedding it) off the v0.34 libraries canarykit supports, and it needs a newer
// google.golang.org/genproto to resolve an ambiguous import; it adds 61 packages to this
// package's build graph (504 → 565 by go list -deps; 810 → 874 for the whole module, 209 →
// 228 modules: istio.io/api and istio.io/client-go, protobuf, go-openapi). Building this
// package from an empty GOCACHE took 251 s and 260 s of CPU with it (two runs on a shared
// 2-core machine) against 239 s and 257 s with the dynamic client, 470 MB of build cache
// against 447 MB: a few percent of build time, the version constraint being the real cost.
// The dynamic client adds one package, k8s.io/client-go/dynamic, already in the module's
// graph, and keeps the client libraries at v0.34. The router needs
// neither the generated types' validation nor their protobuf encoding: the API server
// validates with the CRD's schema, and the objects are JSON.
//
// The conformance suite in mesh/meshtest checks any MeshRouter implementation.
package mesh
