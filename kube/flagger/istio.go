package flagger

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/gatewayapi"
	"github.com/canarykit/canarykit/mesh/istioapi"
)

// decodeIstioService reads spec.service's routing fields into m.Service: hosts (DNS names,
// optionally under a "*." wildcard, or "*") and gateways ("mesh", "<name>" or
// "<namespace>/<name>"), and the Istio fields trafficPolicy, match, rewrite, timeout,
// retries, corsPolicy and headers, typed (istioapi) and checked as Istio checks them
// (istioapi.Service.Problems) once they decode.
func decodeIstioService(d *decoder, svc *object, m *Canary) {
	before := len(d.problems)
	s := &m.Service
	s.Hosts = strList(d, svc, "hosts", func(s string) string {
		if s == "*" || canary.IsDNSSubdomain(strings.TrimPrefix(s, "*.")) {
			return ""
		}
		return "a DNS name (lowercase RFC 1123), optionally after \"*.\", or \"*\""
	})
	s.Gateways = strList(d, svc, "gateways", func(s string) string {
		ns, name, qualified := strings.Cut(s, "/")
		if !qualified {
			name = ns
		}
		if (qualified && !canary.IsDNSLabel(ns)) || !canary.IsDNSSubdomain(name) {
			return "mesh, or a Gateway as <name> or <namespace>/<name> (lowercase RFC 1123)"
		}
		return ""
	})
	s.Delegation = svc.bool("delegation")
	// an empty traffic policy or rewrite, which Istio would refuse, is Flagger's default, as
	// the zero values of the fields canarykit does not support are
	if present(svc, "trafficPolicy") {
		s.TrafficPolicy = decodeTrafficPolicy(svc.obj("trafficPolicy"))
	}
	for _, mo := range boundedList(svc, "match") {
		s.Match = append(s.Match, decodeHTTPMatch(mo))
	}
	if present(svc, "rewrite") {
		ro := svc.obj("rewrite")
		s.Rewrite = &istioapi.HTTPRewrite{URI: ro.str("uri"), Authority: ro.str("authority")}
		m.RewriteType = ro.str("type") // a Gateway API HTTPRoute's only (checkIstio)
		ro.done()
	}
	var given bool
	s.Timeout, given = istioDurationGiven(svc, "timeout")
	m.RequestTimeoutOff = given && s.Timeout == 0 // 0s: an HTTPRoute's "no timeout" (checkIstio)
	if svc.has("retries") {
		ro := svc.obj("retries")
		// Flagger's schema has these three only (retryRemoteLocalities is Istio's, not
		// Flagger's: its API server prunes it, so it is refused as unknown)
		s.Retries = &istioapi.HTTPRetry{Attempts: int32(ro.int("attempts")), PerTryTimeout: istioDuration(ro, "perTryTimeout"),
			RetryOn: ro.str("retryOn")}
		ro.done()
	}
	if svc.has("corsPolicy") {
		s.CorsPolicy = decodeCorsPolicy(svc.obj("corsPolicy"))
	}
	if svc.has("headers") {
		ho := svc.obj("headers")
		s.Headers = &istioapi.Headers{Request: decodeHeaderOps(ho, "request"), Response: decodeHeaderOps(ho, "response")}
		ho.done()
	}
	if len(d.problems) > before {
		return // Istio's checks once the fields decode: a mistyped field would be reported twice
	}
	for _, p := range s.Problems() {
		d.fail(svc.path+"."+p.Field, "%s", p.Message)
	}
}

// present reports whether key is given a value other than null or a zero value ({}, "").
func present(o *object, key string) bool {
	if o.has(key) && !zeroValue(o.m[key]) {
		return true
	}
	o.ignore(key)
	return false
}

// boundedList reads a list of mappings of at most istioapi.MaxItems.
func boundedList(o *object, key string) []*object {
	if v, ok := o.m[key].([]any); ok && len(v) > istioapi.MaxItems {
		o.seen[key] = true
		o.d.fail(o.at(key), "at most %d, got %d", istioapi.MaxItems, len(v))
		return nil
	}
	return o.list(key)
}

// boundedKeys reads a mapping's keys, at most istioapi.MaxItems of them.
func boundedKeys(o *object) []string {
	if len(o.m) > istioapi.MaxItems {
		o.d.fail(o.path, "at most %d entries, got %d", istioapi.MaxItems, len(o.m))
		o.ignore(o.keys()...)
		return nil
	}
	return o.keys()
}

// strs reads a list of at most istioapi.MaxItems strings.
func strs(o *object, key string) []string { return boundedStrs(o, key, istioapi.MaxItems) }

// boundedStrMap reads a mapping of strings of at most istioapi.MaxItems entries.
func boundedStrMap(o *object, key string) map[string]string {
	if v, ok := o.m[key].(map[string]any); ok && len(v) > istioapi.MaxItems {
		o.seen[key] = true
		o.d.fail(o.at(key), "at most %d entries, got %d", istioapi.MaxItems, len(v))
		return nil
	}
	return o.strMap(key)
}

// istioDuration reads a duration in Go's syntax, as Istio reads it ("1s", "500ms", "24h"); a
// 0s given is refused at its path.
func istioDuration(o *object, key string) istioapi.Duration {
	v, given := istioDurationGiven(o, key)
	if given && v == 0 {
		// the zero value is also the field's absence (omitempty): written as given it would
		// vanish, and the route or policy would take a default the Canary did not ask for
		o.d.fail(o.at(key), "must not be 0s: Istio refuses a zero duration here (as a Gateway API HTTPRoute refuses a zero CORS maxAge); leave it out for the default")
	}
	return v
}

// istioDurationGiven reads a duration and reports whether one was given and read: for the
// fields whose 0s means something of its own (a route's "no timeout", a session cookie's ttl).
func istioDurationGiven(o *object, key string) (istioapi.Duration, bool) {
	s := o.str(key)
	if s == "" {
		return 0, false
	}
	v, err := istioapi.ParseDuration(s)
	switch {
	case err != nil:
		o.d.fail(o.at(key), "%v", err)
		return 0, false
	case v < 0:
		o.d.fail(o.at(key), "must not be negative, got %s", shown(s))
		return 0, false
	}
	return v, true
}

func uint32Field(o *object, key string) uint32 { return uint32(o.intIn(key, 0, math.MaxUint32)) }

// stringMatch reads an Istio StringMatch.
func stringMatch(o *object) istioapi.StringMatch {
	m := istioapi.StringMatch{Exact: o.str("exact"), Prefix: o.str("prefix"), Regex: o.str("regex")}
	if o.str("suffix") != "" {
		o.d.fail(o.at("suffix"), "Istio's StringMatch has no suffix (the API server would drop it); use regex")
	}
	o.done()
	return m
}

// optMatch reads key of o with read (a StringMatch of either kind), nil when absent.
func optMatch[T any](o *object, key string, read func(*object) T) *T {
	if !o.has(key) {
		return nil
	}
	m := read(o.obj(key))
	return &m
}

// matchesByName reads a mapping of names to StringMatches (headers, queryParams,
// withoutHeaders) with read, of at most istioapi.MaxItems (canary.MaxMatchHeaders) entries.
func matchesByName[T any](o *object, key string, read func(*object) T) map[string]T {
	if !o.has(key) {
		return nil
	}
	mo := o.obj(key)
	out := map[string]T{}
	for _, name := range boundedKeys(mo) {
		out[name] = read(mo.obj(name))
	}
	mo.done()
	return out
}

func decodeHTTPMatch(mo *object) istioapi.HTTPMatchRequest {
	m := istioapi.HTTPMatchRequest{
		Name: mo.str("name"), URI: optMatch(mo, "uri", stringMatch), Scheme: optMatch(mo, "scheme", stringMatch),
		Method: optMatch(mo, "method", stringMatch), Authority: optMatch(mo, "authority", stringMatch),
		Headers: matchesByName(mo, "headers", stringMatch), Port: uint32Field(mo, "port"), QueryParams: matchesByName(mo, "queryParams", stringMatch),
		IgnoreURICase: mo.bool("ignoreUriCase"), WithoutHeaders: matchesByName(mo, "withoutHeaders", stringMatch),
		SourceLabels: boundedStrMap(mo, "sourceLabels"), SourceNamespace: mo.str("sourceNamespace"),
	}
	mo.unsupported("gateways")
	mo.done()
	return m
}

func decodeCorsPolicy(o *object) *istioapi.CorsPolicy {
	p := &istioapi.CorsPolicy{AllowOrigin: strs(o, "allowOrigin"), AllowMethods: strs(o, "allowMethods"),
		AllowHeaders: strs(o, "allowHeaders"), ExposeHeaders: strs(o, "exposeHeaders"), MaxAge: istioDuration(o, "maxAge"),
		AllowCredentials: o.bool("allowCredentials")}
	for _, so := range boundedList(o, "allowOrigins") {
		p.AllowOrigins = append(p.AllowOrigins, stringMatch(so))
	}
	o.done()
	return p
}

func decodeHeaderOps(ho *object, key string) *istioapi.HeaderOperations {
	if !ho.has(key) {
		return nil
	}
	o := ho.obj(key)
	ops := &istioapi.HeaderOperations{Set: boundedStrMap(o, "set"), Add: boundedStrMap(o, "add"), Remove: strs(o, "remove")}
	o.done()
	return ops
}

func decodeTrafficPolicy(o *object) *istioapi.TrafficPolicy {
	p := &istioapi.TrafficPolicy{}
	if o.has("loadBalancer") {
		lo := o.obj("loadBalancer")
		lb := &istioapi.LoadBalancerSettings{Simple: lo.str("simple"), WarmupDurationSecs: istioDuration(lo, "warmupDurationSecs")}
		if lo.has("consistentHash") {
			ho := lo.obj("consistentHash")
			h := &istioapi.ConsistentHashLB{HTTPHeaderName: ho.str("httpHeaderName"), UseSourceIP: ho.bool("useSourceIp"),
				HTTPQueryParameterName: ho.str("httpQueryParameterName"), MinimumRingSize: uint64(ho.intIn("minimumRingSize", 0, math.MaxInt64))}
			if ho.has("httpCookie") {
				co := ho.obj("httpCookie")
				h.HTTPCookie = &istioapi.HTTPCookie{Name: co.str("name"), Path: co.str("path")}
				if present(co, "ttl") { // ttl: 0s is a session cookie; without a ttl, none is set
					ttl, _ := istioDurationGiven(co, "ttl") // 0s is meaningful
					h.HTTPCookie.TTL = &ttl
				}
				co.done()
			}
			ho.done()
			lb.ConsistentHash = h
		}
		if lo.has("localityLbSetting") {
			lb.LocalityLbSetting = decodeLocality(lo.obj("localityLbSetting"))
		}
		lo.done()
		p.LoadBalancer = lb
	}
	if o.has("connectionPool") {
		co := o.obj("connectionPool")
		p.ConnectionPool = &istioapi.ConnectionPoolSettings{}
		if co.has("tcp") {
			to := co.obj("tcp")
			p.ConnectionPool.TCP = &istioapi.TCPSettings{MaxConnections: int32(to.int("maxConnections")), ConnectTimeout: istioDuration(to, "connectTimeout")}
			to.done()
		}
		if co.has("http") {
			ho := co.obj("http")
			p.ConnectionPool.HTTP = &istioapi.HTTPSettings{H2UpgradePolicy: ho.str("h2UpgradePolicy"),
				HTTP1MaxPendingRequests: int32(ho.int("http1MaxPendingRequests")), HTTP2MaxRequests: int32(ho.int("http2MaxRequests")),
				MaxRequestsPerConnection: int32(ho.int("maxRequestsPerConnection")), MaxRetries: int32(ho.int("maxRetries")),
				IdleTimeout: istioDuration(ho, "idleTimeout")}
			ho.done()
		}
		co.done()
	}
	if o.has("outlierDetection") {
		oo := o.obj("outlierDetection")
		od := &istioapi.OutlierDetection{SplitExternalLocalOriginErrors: oo.bool("splitExternalLocalOriginErrors"),
			Interval: istioDuration(oo, "interval"), BaseEjectionTime: istioDuration(oo, "baseEjectionTime"),
			MaxEjectionPercent: int32(oo.int("maxEjectionPercent")), MinHealthPercent: int32(oo.int("minHealthPercent"))}
		for _, f := range []struct {
			key string
			to  **uint32
		}{{"consecutive5xxErrors", &od.Consecutive5xxErrors}, {"consecutiveGatewayErrors", &od.ConsecutiveGatewayErrors},
			{"consecutiveLocalOriginFailures", &od.ConsecutiveLocalOriginFailures}} {
			if oo.has(f.key) {
				v := uint32Field(oo, f.key)
				*f.to = &v
			}
		}
		if oo.has("consecutiveErrors") {
			oo.ignore("consecutiveErrors")
			oo.d.fail(oo.at("consecutiveErrors"), "Istio deprecated it: use consecutive5xxErrors or consecutiveGatewayErrors")
		}
		oo.done()
		p.OutlierDetection = od
	}
	if o.has("tls") {
		to := o.obj("tls")
		p.TLS = &istioapi.ClientTLSSettings{Mode: to.str("mode"), ClientCertificate: to.str("clientCertificate"),
			PrivateKey: to.str("privateKey"), CaCertificates: to.str("caCertificates"), SubjectAltNames: strs(to, "subjectAltNames"),
			SNI: to.str("sni")}
		to.done()
	}
	o.done()
	return p
}

func decodeLocality(o *object) *istioapi.LocalityLbSetting {
	l := &istioapi.LocalityLbSetting{}
	if o.has("enabled") {
		v := o.bool("enabled")
		l.Enabled = &v
	}
	for _, do := range boundedList(o, "distribute") {
		dist := istioapi.LocalityDistribute{From: do.str("from")}
		if do.has("to") {
			to := do.obj("to")
			dist.To = map[string]uint32{}
			for _, k := range boundedKeys(to) {
				dist.To[k] = uint32Field(to, k)
			}
			to.done()
		}
		do.done()
		l.Distribute = append(l.Distribute, dist)
	}
	for _, fo := range boundedList(o, "failover") {
		l.Failover = append(l.Failover, istioapi.LocalityFailover{From: fo.str("from"), To: fo.str("to")})
		fo.done()
	}
	o.done()
	return l
}

// strList reads a list of distinct strings, each checked by valid (which returns what a value
// must be, or "" when it is fine).
func strList(d *decoder, o *object, key string, valid func(string) string) []string {
	v, ok := o.get(key)
	if !ok || v == nil {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		d.fail(o.at(key), "must be a list of strings")
		return nil
	}
	if len(items) > istioapi.MaxItems {
		d.fail(o.at(key), "at most %d, got %d", istioapi.MaxItems, len(items))
		return nil
	}
	var out []string
	for i, it := range items {
		at := fmt.Sprintf("%s[%d]", o.at(key), i)
		s, isStr := it.(string)
		switch {
		case !isStr:
			d.fail(at, "must be a string")
		case valid(s) != "":
			d.fail(at, "must be %s, got %s", valid(s), shown(s))
		case slices.Contains(out, s):
			d.fail(at, "%s is listed twice", shown(s))
		default:
			out = append(out, s)
		}
	}
	return out
}

// GatewayFields are the Istio fields of spec.service (as istioapi.Service.IstioFields names
// them) a Gateway API HTTPRoute carries too, as Flagger's Gateway API router writes them: the
// rules' matches, header, rewrite and CORS filters, and timeouts.request.
var GatewayFields = []string{"match", "headers", "rewrite", "timeout", "corsPolicy"}

// GatewayService is what the Canary's HTTPRoute carries of spec.service besides its parents,
// hostnames and timeouts: match, headers, rewrite (with its type), mirror and corsPolicy.
func (c *Canary) GatewayService() gatewayapi.Service {
	return gatewayapi.Service{Match: c.Service.Match, Headers: c.Service.Headers, Rewrite: c.Service.Rewrite, RewriteType: c.RewriteType,
		Mirror: c.ServiceMirror, CORS: c.Service.CorsPolicy}
}

// decodeServiceMirror reads spec.service.mirror, Flagger's list of Gateway API
// RequestMirror filters: each a backendRef (group, kind, namespace, name, port). Flagger's
// Canary CRD has no percent or fraction for them (its API server drops them): they are
// refused, not read as a share canarykit would not give.
// Entries that do not decode are reported, and none is kept (their checks would report them
// twice).
func decodeServiceMirror(svc *object) []gatewayapi.Mirror {
	before := len(svc.d.problems)
	var out []gatewayapi.Mirror
	for _, mo := range boundedList(svc, "mirror") {
		for _, k := range []string{"percent", "fraction"} {
			if mo.has(k) {
				mo.ignore(k)
				mo.d.fail(mo.at(k), "Flagger's Canary has no share for spec.service.mirror (its API server drops %s): each entry copies every request; leave it out", k)
			}
		}
		if !mo.has("backendRef") {
			mo.d.fail(mo.at("backendRef"), "required: the Service to copy requests to")
		}
		bo := mo.obj("backendRef")
		mr := gatewayapi.Mirror{Group: bo.str("group"), Kind: bo.str("kind"), Namespace: bo.str("namespace"), Name: bo.str("name")}
		if bo.has("port") {
			mr.Port = bo.port("port")
		}
		bo.done()
		mo.done()
		out = append(out, mr)
	}
	if len(svc.d.problems) > before {
		return nil
	}
	return out
}

// checkGatewayService refuses what of spec.service's match, headers, rewrite, mirror and
// corsPolicy a Gateway API HTTPRoute cannot express (gatewayapi.Service.Problems), at their
// paths, a mirror to the target's own Services (gatewayapi.Service.MirrorConflicts), and a
// rule that would hold more matches than Gateway API allows once the A/B conditions merge in.
func checkGatewayService(d *decoder, spec *object, m *Canary) {
	gs := m.GatewayService()
	t := m.Target
	for _, p := range append(gs.Problems(), gs.MirrorConflicts(t.Namespace, t.ApexService(), t.PrimaryService(), t.CanaryService())...) {
		d.fail(spec.path+".service."+p.Field, "%s", p.Message)
	}
	ab, svc := len(m.Spec.Match), len(m.Service.Match)
	switch {
	case ab > 0 && svc > 0 && ab*svc > gatewayapi.MaxMatches:
		d.fail(spec.at("service.match"), "an HTTPRoute rule holds at most %d matches; the %d A/B conditions times these %d make %d", gatewayapi.MaxMatches, ab, svc, ab*svc)
	case ab > 1 && m.RewriteType == gatewayapi.ReplacePrefixMatch && m.Service.Rewrite != nil && m.Service.Rewrite.URI != "":
		d.fail(spec.at("service.rewrite.type"), "ReplacePrefixMatch needs a route rule with one path prefix match, and the A/B test's %d conditions make %d", ab, ab*max(svc, 1))
	}
}

// checkIstio refuses what the Istio router would not honour: hosts, gateways and the Istio
// fields without it (no VirtualService to hold them; hosts are also an HTTPRoute's hostnames,
// as in Flagger) and, with it (or the driver's default router, which may be Istio's), has a
// TCP service routed with a TCP route (checkTCP).
func checkIstio(d *decoder, spec *object, key string, m *Canary) {
	if (m.Router.Kind == RouterIstio || m.Router.Kind == RouterDefault) && strings.EqualFold(m.Workload.AppProtocol, "tcp") {
		checkTCP(d, spec, key, m)
	}
	s := m.Service
	fields := m.IstioFields()
	if m.Router.Kind == RouterIstio && m.RequestTimeoutOff {
		d.fail(spec.at("service.timeout"), "must be at least 1ms, got 0s: Istio refuses a zero route timeout; leave it out for none (an Istio route has no timeout unless given one)")
	}
	if m.Router.Kind == RouterDefault && len(m.ServiceMirror) > 0 {
		m.Notes = append(m.Notes, "spec.provider is not set: spec.service.mirror is for the driver's default router, which must write a Gateway API HTTPRoute")
	}
	if m.Router.Kind == RouterDefault && (len(s.Hosts) > 0 || len(s.Gateways) > 0 || len(fields) > 0) {
		// the driver's default router decides, as Flagger's -mesh-provider (istio by default)
		// does: the driver refuses them unless it is Istio's (or, for hosts, an HTTPRoute)
		m.Notes = append(m.Notes, "spec.provider is not set: spec.service's hosts, gateways and Istio fields are for the driver's default router, which must be istio (hosts: or a Gateway API HTTPRoute)")
		return
	}
	if m.Router.Kind != RouterIstio {
		if len(s.Hosts) > 0 && m.Router.Kind != RouterHTTPRoute {
			d.fail(spec.at("service.hosts"), "only provider istio (the VirtualService's hosts) or a Gateway API HTTPRoute (its hostnames) uses them (spec.provider is %s)", shown(m.Router.Provider))
		}
		for i, h := range s.Hosts {
			if m.Router.Kind == RouterHTTPRoute && (h == "*" || net.ParseIP(strings.TrimPrefix(h, "*.")) != nil) {
				d.fail(fmt.Sprintf("%s[%d]", spec.at("service.hosts"), i), "%s is not a Gateway API hostname (a DNS name, optionally after \"*.\"; omit hosts for every hostname)", shown(h))
			}
		}
		if len(s.Gateways) > 0 {
			d.fail(spec.at("service.gateways"), "only provider istio writes a VirtualService for them (spec.provider is %s)", shown(m.Router.Provider))
		}
		if len(m.ServiceMirror) > 0 && m.Router.Kind != RouterHTTPRoute && m.Router.Kind != RouterDefault {
			d.fail(spec.at("service.mirror"), "only a Gateway API HTTPRoute carries it (provider gatewayapi:<version>, or linkerd with gatewayRefs), as in Flagger, whose other routers ignore it (spec.provider is %s)", shown(m.Router.Provider))
		}
		for _, f := range fields {
			if m.Router.Kind == RouterHTTPRoute && slices.Contains(GatewayFields, f) {
				continue // the HTTPRoute's too, as Flagger writes them (checkGatewayService, checkGatewayTimeouts)
			}
			d.fail(spec.at("service."+f), "only provider istio writes it, into the VirtualService or DestinationRules (spec.provider is %s)", shown(m.Router.Provider))
		}
		if m.Router.Kind == RouterHTTPRoute {
			checkGatewayService(d, spec, m)
			return
		}
	}
	if m.Router.Kind == RouterIstio {
		for _, p := range s.HostConflicts(m.Target.Namespace, m.Target.ApexService()) {
			d.fail(spec.path+".service."+p.Field, "%s", p.Message)
		}
	}
	if m.RewriteType != "" {
		d.fail(spec.at("service.rewrite.type"), "only a Gateway API HTTPRoute has a rewrite type (Flagger reads it there only); leave it out")
	}
	if len(m.ServiceMirror) > 0 && m.Router.Kind == RouterIstio {
		d.fail(spec.at("service.mirror"), "only a Gateway API HTTPRoute carries it (provider gatewayapi:<version>, or linkerd with gatewayRefs), as in Flagger, whose Istio router ignores it; spec.analysis.mirror copies requests to the canary")
	}
}

// IstioFields names the Istio fields spec.service gives, as istioapi.Service.IstioFields
// does, timeout included when it is 0s (RequestTimeoutOff).
func (c *Canary) IstioFields() []string {
	fields := c.Service.IstioFields()
	if c.RequestTimeoutOff {
		fields = append(fields, "timeout")
	}
	return fields
}

// checkTCP has the Istio router route a TCP service (spec.service.appProtocol tcp, any case,
// as Flagger reads it) with a TCP route, and refuses by path what a TCP route cannot carry:
// spec.service's HTTP fields (istioapi.Service.Problems), A/B testing, mirroring and session
// affinity. Flagger drops them for a TCP service, and its A/B test would send every request
// to the canary.
func checkTCP(d *decoder, spec *object, key string, m *Canary) {
	http := m.Service.Problems()
	m.Service.TCP = true
	for _, p := range m.Service.Problems() {
		if !slices.Contains(http, p) { // the others are reported already
			d.fail(spec.at("service")+"."+p.Field, "%s", p.Message)
		}
	}
	path, s := "spec."+key+".", m.Spec
	const why = "spec.service.appProtocol is tcp: Istio routes the service with a TCP route, which %s"
	if len(s.Match) > 0 {
		d.fail(path+"match", why, "matches ports, not requests (A/B testing needs an HTTP service)")
	}
	if s.Mirror {
		d.fail(path+"mirror", why, "cannot copy requests")
	}
	if s.SessionAffinity != nil {
		d.fail(path+"sessionAffinity", why, "cannot route by cookie nor set one")
	}
}
