// Package flagger reads Flagger's API objects (flagger.app) in canarykit's terms: a Canary
// becomes the release's canary.Target, its canary.Spec, the Workload options of its
// Deployment or DaemonSet (spec.targetRef.kind; a DaemonSet with spec.autoscalerRef is refused
// there) and the Router its spec.provider chooses; MetricTemplates and AlertProviders
// are the objects a Canary's metrics and alerts refer to. It has no cluster client and imports
// neither client-go nor net/http, so a program that only loads and simulates stays small;
// kube/driver reads the same objects from a cluster and runs the release.
//
//	objs, err := flagger.LoadObjects(data) // Canaries, MetricTemplates, AlertProviders
//	c, err := objs.Canary("test", "podinfo")
//	err = c.Resolve(ctx, objs)             // templateRefs and providerRefs, by path
//
// # What it reads
//
// LoadObjects reads a YAML stream: files, documents separated by "---", each an object or a
// List of them (what kubectl get canaries,metrictemplates,alertproviders -o yaml writes;
// status and server-set metadata are ignored, but for a Canary's metadata.uid, kept in
// Canary.UID for the Events recorded on it). LoadCanary reads exactly one Canary;
// CanaryFromObject, MetricTemplateFromObject and AlertProviderFromObject decode the generic
// form a dynamic client returns. One file per kind converts it: canary.go, metrictemplate.go,
// alertprovider.go.
//
// A Canary is flagger.app/v1beta1 with spec.analysis, or the legacy v1alpha3 with
// spec.canaryAnalysis. A metric's scalar threshold, deprecated but kept by v1beta1 (Flagger's
// podinfo chart writes it), is read as Flagger checks it, with a Note: a minimum of
// request-success-rate, a maximum of any other metric, and not used beside a thresholdRange. The spec is
// validated as canary.New validates it, each problem at its manifest path
// (spec.analysis.stepWeight), and so are the names of the Services canarykit creates: the apex
// (spec.service.name, else spec.targetRef.name) and its "-primary" and "-canary" Services must
// be DNS-1035 labels (lowercase, starting with a letter, no dots, at most 63 characters with
// the suffix), reported at the field that names them. Metric queries and MetricTemplates may use Flagger's template
// variables: {{ name }}, {{ namespace }}, {{ target }}, {{ service }}, {{ ingress }}
// (spec.ingressRef's name, else the target's name, as in Flagger), {{ interval }} and
// {{ variables.<key> }} (templateVariables). A metric named after one of Flagger's built-in
// checks (request-success-rate, request-duration) is that check: a query or templateRef beside
// the name is refused at its path, since Flagger would run the built-in check as well as it,
// and so are templateVariables, which the built-in checks' queries do not use.
//
// A MetricTemplate's provider is prometheus (or a server with its API) or datadog. A datadog
// template needs spec.provider.secretRef (a Secret with datadog_api_key and
// datadog_application_key, read by the driver); its address defaults to Datadog's
// (https://api.datadoghq.com), as in Flagger; spec.provider.headers and insecureSkipVerify:
// true, which Flagger ignores for datadog (it sends no headers and checks the certificate), are
// refused at their paths; its query is used as written (a Prometheus template's is
// compacted, canary.CompactQuery), and the templateVariables of a metric that refers to it
// may hold only a Datadog tag's characters (letters, digits, '_', '-', '.', ':' and '/'):
// Datadog's queries have no quoted strings, so a brace or a comma in a value would end its tag
// and add to the query. A prometheus template keeps a templateVariables value where it writes
// it: inside a PromQL string a value cannot end it (no quotes, backslashes or control
// characters, for every template), and outside one it may be one plain token only (letters,
// digits, '_', ':' and '.': "5m", "0.99"), else it is refused at its templateVariables path,
// canary.PromQLVariableProblems; a value in a string may still widen a regular expression the
// template matches it with (=~), as in Flagger. A prometheus template's header names must be HTTP tokens
// and its values free of line breaks and other control characters, as net/http sends them.
//
// An AlertProvider's channel and username go with its alerts where Flagger's carry them, with
// Flagger's defaults (DefaultAlertChannel, DefaultAlertUsername): both for slack and rocket,
// the username for discord; given where Flagger's alerts carry none (msteams, gchat; a
// channel for discord, whose webhooks post to their own), they are refused at their paths.
//
// One annotation of the Canary is read: canarykit.dev/split-check (AnnotationSplitCheck:
// warn, hold, fail or off) sets canary.Spec.SplitCheck, what a weighted release does when
// the canary gets far less traffic than its weight; any other value is refused at
// metadata.annotations["canarykit.dev/split-check"]. Other annotations are left alone.
//
// # What it refuses
//
// Every problem is reported at once, each with its document (in a stream of several) and field
// path, and nothing is dropped: a field canarykit does not support yet
// (spec.upstreamRef, spec.routeRef, spec.service.backends),
// an unknown field, a mistyped value, an object given twice, a MetricTemplate provider other
// than prometheus and datadog, an AlertProvider type canarykit cannot notify. Errors are
// *canary.ValidationError and wrap canary.ErrInvalidSpec. Names are checked as Kubernetes
// names before they reach a lookup; text read from a manifest appears in messages quoted and
// cut short (a plain lowercase word as it is), and a mapping key that is not a plain word is
// quoted in the field path (spec.analysis.match[0].headers["x y"]).
//
// # spec.autoscalerRef
//
// kind HorizontalPodAutoscaler (any apiVersion is read as autoscaling/v2, with a Note) or
// ScaledObject (KEDA; apiVersion must be keda.sh/v1alpha1): Workload.Autoscaler,
// AutoscalerKind, PrimaryMinReplicas and PrimaryMaxReplicas (primaryScalerReplicas), and for a
// ScaledObject PrimaryScalerQueries (primaryScalerQueries: by trigger name, the primary's
// queries). Refused by path: another kind, another apiVersion of a ScaledObject,
// primaryScalerQueries with a HorizontalPodAutoscaler (Flagger ignores them there), an empty
// primaryScalerQueries with a ScaledObject (null is absent, and the primary's queries are
// rewritten from the target's; given empty, Flagger rewrites none, and the primary would scale
// on the canary's load), a query that is not a string (a number or boolean would lose the text
// written), empty or longer than kedaapi.MaxQueryBytes, a trigger name longer than
// kedaapi.MaxTriggerNameBytes, more than kedaapi.MaxQueries queries. A trigger name the
// ScaledObject does not have is found at run time (kube's Bootstrap refuses it before its first
// write), as is a missing ScaledObject or a cluster without KEDA's CRD.
//
// # canarykit's annotations
//
// A Canary stays a valid Flagger object; what Flagger's schema has no field for is read from
// two annotations Flagger ignores (a Flagger running the same Canary would run its analysis
// without them):
//
//	metadata:
//	  annotations:
//	    canarykit.dev/sequential-check: |   # add a sequential test of the error rate
//	      alpha: 0.01                       #   every field optional (AnnotationSequentialCheck)
//	    canarykit.dev/dry-run-metrics: error-budget-v2, sequential-error-rate
//
// AnnotationSequentialCheck is a YAML mapping (at most 4 KiB): it appends a metric named
// sequential-error-rate (or its name) with OnNoData hold to the analysis and sets
// Canary.Sequential, which kube/driver binds to metrics.Sequential. AnnotationDryRunMetrics
// lists the metrics — of the analysis, or the sequential check — that run dry (canary.Metric.DryRun).
// Every bad value is refused at its path, e.g.
// metadata.annotations.canarykit.dev/sequential-check.alpha or
// metadata.annotations.canarykit.dev/dry-run-metrics[1] for a name no metric has. Other
// annotations are ignored.
//
// # spec.provider and the router
//
// As in Flagger, spec.provider chooses the route object (but for linkerd with gatewayRefs,
// where Flagger's linkerd router ignores them and writes a TrafficSplit):
//
//	linkerd                  SMI TrafficSplit (served version discovered), or a Gateway API
//	                         HTTPRoute when spec.service.gatewayRefs are given (Linkerd >= 2.14)
//	gatewayapi:v1            HTTPRoute, version pinned
//	gatewayapi:v1beta1
//	smi:v1alpha1 … v1alpha4  TrafficSplit, version pinned (Flagger's smi:<version>:linkerd too)
//	kubernetes               the apex Service's selector switched (blue/green, no mesh)
//	istio                    an Istio VirtualService and DestinationRules (served version
//	                         discovered), with spec.service's hosts, gateways and Istio
//	                         fields (trafficPolicy, match, rewrite, timeout, retries,
//	                         corsPolicy, headers)
//	nginx                    an ingress-nginx canary Ingress copied from spec.ingressRef
//	(none)                   the driver's default; an HTTPRoute with gatewayRefs
//
// Any other value is an error at spec.provider naming it: a provider Flagger drives and
// canarykit does not (contour, appmesh, gloo, traefik, kuma, apisix, skipper,
// osm, knative), an unknown Gateway API or SMI version, or an unknown name. So is gatewayRefs
// with a provider that writes no HTTPRoute (kubernetes, smi), and kubernetes with an analysis
// that is not blue/green. With nginx, spec.ingressRef (a networking.k8s.io/v1 Ingress in the
// Canary's namespace; apiVersion networking.k8s.io/v1beta1 or extensions/v1beta1, which
// Flagger's tutorial wrote before, is read as v1 with a Note, as Flagger reads the reference
// by name alone) is required, and an A/B test may match one header (exact, prefix,
// suffix or regex) and one cookie by name (cookie: exact: <name>, under the key cookie,
// lowercase, as Flagger reads it), each in its own match entry: anything else is an error at the match's path, as ingress-nginx could not route it.
// Canary.CheckNGINX asks the same of a Canary NGINX routes without spec.provider saying so
// (the driver's default router).
// An embedder may still drive a loaded Canary through another router.
//
// spec.service.hosts (DNS names, "*." wildcards, "*") and spec.service.gateways ("mesh",
// <name> or <namespace>/<name>) are the VirtualService's, for provider istio only; at most 64
// each, none twice. On the mesh (no gateways, or "mesh" among them), a host naming another
// Service of the cluster, or "*" (which Istio refuses there), is refused at its path
// (istioapi.Service.HostConflicts): the VirtualService would take that Service's traffic; Flagger
// writes it. spec.service.delegation: true makes it a delegate, without hosts or
// gateways (given beside it, they are refused), for a root VirtualService to delegate to. So
// are, as Flagger's Istio router writes them, spec.service.match, rewrite (uri, authority),
// timeout, retries, corsPolicy and headers, on the VirtualService's
// HTTP routes (with an A/B analysis the canary's route matches each analysis match within
// each service match, see A/B testing; the primary's route the service matches), and
// spec.service.trafficPolicy, on both DestinationRules. They decode into mesh/istioapi's
// types (Canary.Service): an unknown field, a wrong type or a value Istio would refuse (a
// duration under 1ms, an unknown load balancer or TLS mode, a regular expression that is not
// RE2, a header name Istio rejects, an unknown retry condition, a suffix match, which Istio
// lacks) is an error at its path, e.g. spec.service.retries.perTryTimeout; lists and mappings
// hold at most 64 entries. null is absent, and so is an empty trafficPolicy or rewrite
// (which Istio would refuse); retries: {} turns retries off (attempts 0), as Flagger writes
// it. With a Gateway API HTTPRoute, timeout is accepted too (see backendTimeout below), and so
// are match, headers and rewrite (with rewrite.type, ReplaceFullPath or ReplacePrefixMatch,
// which only an HTTPRoute has: Canary.RewriteType), as Flagger's Gateway API router writes them:
// the rules' matches and their header modifier and URL rewrite filters (Canary.GatewayService,
// checked by gatewayapi.Service.Problems: an Istio match field an HTTPRouteMatch lacks, a path
// Gateway API refuses, a header matched by presence only, more than 64 matches in a rule once
// the A/B conditions merge in are errors at their paths); so is corsPolicy, the rules' CORS
// filter (which Gateway API's experimental channel has, its standard channel does not: with
// the standard CRDs the API server refuses the route, and the driver's release fails saying
// so before anything is made for the target: the route's dry run comes before the primary
// and the Services), mapped as Flagger maps it, the exact allowOrigins entries too (Flagger drops them; a
// prefix or regex entry is an error, and so is an origin that is not scheme://host[:port] or
// a lone '*', an entry listed twice, a maxAge over 2^31-1 seconds). spec.service.mirror
// (Canary.ServiceMirror, Flagger's list of Gateway API RequestMirror filters, each a
// backendRef) is an HTTPRoute's only: a RequestMirror filter on each rule per entry, beside
// spec.analysis.mirror's step mirror; at most gatewayapi.MaxMirrors (11) entries, each a core
// Service (group "", kind Service) with a name and a port, none twice, none the target's apex,
// primary or canary Service in its namespace; a namespace other than the Canary's is
// allowed, as in Flagger, and needs a ReferenceGrant there; percent and fraction, which
// Flagger's Canary CRD lacks (its API server drops them), are errors. Other providers refuse
// mirror (Flagger ignores it there; without spec.provider, a Note, and the driver refuses a
// default router that is not an HTTPRoute). The other Istio fields stay Istio's.
// spec.service.appProtocol tcp (any case, as Flagger reads it) with provider istio (or none:
// the driver's default router may be Istio's) has the VirtualService route with one TCP route
// (Canary.Service.TCP), matching the ports of spec.service.match, as Flagger's does; what a
// TCP route cannot carry, which Flagger drops, is refused by path: spec.service's rewrite,
// timeout, retries, corsPolicy and headers, a match condition other than port (and a match
// without one), spec.analysis.match (Flagger would send every request to the canary),
// mirror and sessionAffinity. Other providers do not read it, as in Flagger (the Services'
// port carries it). spec.service.backends and meshName (App Mesh's) are refused by path.
//
// # A/B testing
//
// spec.analysis.match entries (Istio HTTPMatchRequests in Flagger's schema) are canary.Match,
// field for field: headers, uri, method and queryParams (StringMatches: exact, prefix, suffix
// or regex), and name, authority, scheme, port, ignoreUriCase, withoutHeaders, sourceLabels
// and sourceNamespace; gateways is refused by path, as in spec.service.match. The engine's
// checks come first, at the manifest's paths (canary.ValidateMatches: exactly one of exact,
// prefix, suffix and regex, RE2 regular expressions within canary.MaxRegexLen and
// MaxRegexInsts, at most 64 entries per mapping and 64 matches, port 1..65535, ignoreUriCase
// only with a uri exact or prefix, sourceNamespace a namespace name, at least one condition).
// Then what the provider's route cannot match by is an error at
// spec.analysis.match[i].<field>, before anything is written: provider istio takes every
// field; gatewayapi:<version> (and linkerd with gatewayRefs) takes headers, uri (the path:
// absolute, without "//", "/./" and the like, as the HTTPRoute CRD takes it), method (one
// exact method of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH) and
// queryParams, at most 16 headers and 16 query parameters per match, and refuses authority,
// scheme, port, ignoreUriCase, withoutHeaders, sourceLabels and sourceNamespace
// (gatewayapi.Service.Problems; name, which matches nothing, is not written); nginx, linkerd
// (SMI) and smi:<version> match headers only (nginx: one header and one cookie, see above);
// kubernetes takes no match at all. With spec.service.match (istio, gatewayapi), each analysis
// match merges into each service match (istioapi.MergeMatches): the analysis match's headers,
// queryParams, withoutHeaders and sourceLabels replace the service match's, as Flagger replaces
// headers and source labels; its uri, method and other single-valued fields are added where
// Flagger drops them, and one the service match sets too is an error at the analysis match's
// field (istioapi.MergeProblems). Without spec.provider, a match by other fields than headers
// gets a Note: the driver's default router refuses what it cannot match by when the release
// starts. mirror and sessionAffinity are ignored with A/B testing, as below.
//
// # Traffic mirroring
//
// spec.analysis.mirror and mirrorWeight are canary.Spec.Mirror and MirrorWeight, run as Flagger
// runs them: a weighted canary takes one mirrored step at weight 0 before its first weight,
// blue/green mirrors during all its iterations. Providers istio (a mirror on the
// VirtualService's weighted route, mirrorPercentage from mirrorWeight) and gatewayapi:<version>
// (a RequestMirror filter on the HTTPRoute's weighted rule, percent from mirrorWeight) mirror;
// linkerd (SMI), smi:<version>, nginx and kubernetes cannot, and mirror: true with them is
// refused at spec.analysis.mirror (without spec.provider, the driver refuses a default router
// that cannot). mirrorWeight is 0..100 (0: every request). Where Flagger ignores them,
// canarykit does too, with a Note: mirrorWeight without mirror: true, and mirror with A/B
// testing (match), which Flagger never mirrors.
//
// # Session affinity
//
// spec.analysis.sessionAffinity is canary.Spec.SessionAffinity, field for field: cookieName,
// primaryCookieName, maxAge (seconds; 0 or absent: a day, Flagger's 86400), domain, httpOnly,
// partitioned, path, sameSite and secure; null is none. Providers istio and
// gatewayapi:<version> write Flagger's cookie routes (see mesh's package documentation);
// linkerd (SMI), smi:<version>, nginx and kubernetes cannot route by cookie, and
// sessionAffinity with them is refused at spec.analysis.sessionAffinity (without
// spec.provider, the driver refuses a default router that cannot). Every value is held to
// what a cookie and a Set-Cookie header can carry, by path: cookie names are RFC 6265 tokens
// of at most 128 bytes, primaryCookieName differs from cookieName (as Flagger's controller
// requires), domain and path hold at most 256 bytes and no ";", ",", space, quote, backslash,
// control or non-ASCII character, sameSite is Strict, Lax or None, maxAge is 0..34560000 (400
// days). As in Flagger, it is ignored with A/B testing (match), with a Note. The release's
// cookies are kept in the Canary's status fields sessionAffinityCookie,
// previousSessionAffinityCookie and primarySessionAffinityCookie (kube/driver's CanaryStore).
//
// spec.service.portDiscovery is Workload.PortDiscovery: the apex, primary and canary Services
// also carry the ports of the target's containers, as Flagger adds them
// (kube.WorkloadOptions.PortDiscovery: the mesh proxies istio-proxy and envoy left out, and the
// port service.targetPort names; "tcp-<container>-<index>" for an unnamed one). The ports are
// the target's, read when the Services are written: ports that cannot be a Service's or clash
// are refused then, naming the container port. With provider istio and gateways other than
// "mesh" first, or with spec.service.delegation, the VirtualService's destinations name
// service.port, as Flagger's do (mesh.Istio.WithDestinationPort).
//
// spec.service.apex, primary and canary (Flagger's CustomMetadata: labels and annotations)
// are Workload.ApexMetadata, PrimaryMetadata and CanaryMetadata (canary.Metadata): the labels
// and annotations of the apex, primary and canary Services (not of an apex Service the user
// made, which canarykit adopts and leaves the user's labels and annotations on, as Flagger
// does: kube.AnnotationAdopted), and the apex's also of the route
// object where Flagger writes them (the Istio VirtualService, not its DestinationRules; the
// Gateway API HTTPRoute; none on an SMI TrafficSplit or the NGINX canary Ingress, as in
// Flagger). spec.service.unmanagedMetadata (lists of label and annotation keys) is
// Workload.UnmanagedMetadata: keys others write on the Services, whose values are kept. They
// are checked as the API server checks an object's metadata, at their paths
// (spec.service.apex.labels["bad key"]): label keys and annotation keys are qualified names,
// label values at most 63 characters of alphanumerics, '-', '_' and '.'; at most 64 entries
// each, 64 KiB of annotations each; canarykit's own keys (the app.kubernetes.io/managed-by
// label, any key under canarykit.dev/) are refused. spec.service.headless and
// trafficDistribution (PreferClose, PreferSameZone or PreferSameNode, as kube-apiserver v1.34
// accepts) are Workload.Headless and TrafficDistribution (kube.WorkloadOptions has the rules:
// a change of headless on existing Services is refused, their clusterIP cannot change).
// spec.service.backendTimeout (a Gateway API Duration, e.g. 2s) is Canary.BackendTimeout, the
// HTTPRoute rules' timeouts.backendRequest; with a provider that writes no HTTPRoute it is
// refused at its path, as Flagger ignores it there (without spec.provider, a Note: the
// driver's default router must be an HTTPRoute). With an HTTPRoute, spec.service.timeout (read
// as the Istio field, Canary.Service.Timeout) is the rules' timeouts.request, as Flagger
// writes it: it must be a Gateway API Duration when written in its largest whole unit (1.5s
// is 1500ms), and backendTimeout may not exceed it (Gateway API's rule). timeout: 0s is not
// dropped as absent: an HTTPRoute's rules get timeouts.request 0s, which turns the request
// timeout off (Canary.RequestTimeoutOff; backendTimeout is then unbounded by it), and with
// provider istio it is refused at its path, as Istio refuses a route timeout under 1ms (an
// Istio route has none unless given one). Every other Istio duration given as 0s
// (retries.perTryTimeout, corsPolicy.maxAge, the traffic policy's timeouts, warm-up and
// outlier detection) is refused at its path, as Istio refuses it, where it would vanish as
// absent; a consistent-hash cookie's ttl: 0s is kept (a session cookie).
//
// spec.service.gatewayRefs are the HTTPRoute's parents, as Gateway API's ParentReference:
// Gateways (north-south, the default kind, group gateway.networking.k8s.io) or Services
// (GAMMA, east-west, the core group written "" or core), namespace defaulting to the
// Canary's, with sectionName and port (1..65535); at most 32, none twice.
package flagger
