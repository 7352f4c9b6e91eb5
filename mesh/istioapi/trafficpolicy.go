package istioapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// The enums of Istio's DestinationRule that Flagger's Canary schema holds.
var (
	SimpleLBs         = []string{"ROUND_ROBIN", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "LEAST_REQUEST"}
	H2UpgradePolicies = []string{"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"}
	TLSModes          = []string{"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"}
)

func (c *checker) trafficPolicy(field string, p TrafficPolicy) {
	if p.LoadBalancer == nil && p.ConnectionPool == nil && p.OutlierDetection == nil && p.TLS == nil {
		c.add(field, "set at least one of loadBalancer, connectionPool, outlierDetection and tls, or leave it out (Istio refuses an empty traffic policy)")
	}
	if lb := p.LoadBalancer; lb != nil {
		c.loadBalancer(field+".loadBalancer", *lb)
	}
	if cp := p.ConnectionPool; cp != nil && cp.TCP != nil {
		at := field + ".connectionPool.tcp"
		if cp.TCP.MaxConnections < 0 {
			c.add(at+".maxConnections", "must not be negative, got %d", cp.TCP.MaxConnections)
		}
		c.duration(at+".connectTimeout", cp.TCP.ConnectTimeout, time.Millisecond)
	}
	if cp := p.ConnectionPool; cp != nil && cp.HTTP != nil {
		h, at := cp.HTTP, field+".connectionPool.http"
		c.enum(at+".h2UpgradePolicy", h.H2UpgradePolicy, H2UpgradePolicies)
		for _, f := range []named[int32]{{"http1MaxPendingRequests", h.HTTP1MaxPendingRequests}, {"http2MaxRequests", h.HTTP2MaxRequests},
			{"maxRequestsPerConnection", h.MaxRequestsPerConnection}, {"maxRetries", h.MaxRetries}} {
			if f.v < 0 {
				c.add(at+"."+f.key, "must not be negative, got %d", f.v)
			}
		}
		c.duration(at+".idleTimeout", h.IdleTimeout, time.Millisecond)
	}
	if od := p.OutlierDetection; od != nil {
		at := field + ".outlierDetection"
		c.duration(at+".interval", od.Interval, time.Millisecond)
		c.duration(at+".baseEjectionTime", od.BaseEjectionTime, time.Millisecond)
		for _, f := range []named[int32]{{"maxEjectionPercent", od.MaxEjectionPercent}, {"minHealthPercent", od.MinHealthPercent}} {
			if f.v < 0 || f.v > 100 {
				c.add(at+"."+f.key, "must be 0..100 (percent), got %d", f.v)
			}
		}
	}
	if tls := p.TLS; tls != nil {
		c.tls(field+".tls", *tls)
	}
}

func (c *checker) enum(field, v string, values []string) {
	if v != "" && !slices.Contains(values, v) {
		c.add(field, "must be one of %s, got %q", strings.Join(values, ", "), cut(v))
	}
}

func (c *checker) loadBalancer(field string, lb LoadBalancerSettings) {
	c.enum(field+".simple", lb.Simple, SimpleLBs)
	if lb.Simple != "" && lb.ConsistentHash != nil {
		c.add(field, "set simple or consistentHash, not both")
	}
	if h := lb.ConsistentHash; h != nil {
		at, set := field+".consistentHash", 0
		for _, on := range []bool{h.HTTPHeaderName != "", h.HTTPCookie != nil, h.UseSourceIP, h.HTTPQueryParameterName != ""} {
			if on {
				set++
			}
		}
		if set != 1 {
			c.add(at, "set one of httpHeaderName, httpCookie, useSourceIp and httpQueryParameterName")
		}
		if h.HTTPHeaderName != "" {
			c.headerName(at+".httpHeaderName", h.HTTPHeaderName)
		}
		c.value(at+".httpQueryParameterName", h.HTTPQueryParameterName)
		if ck := h.HTTPCookie; ck != nil {
			if ck.Name == "" {
				c.add(at+".httpCookie.name", "required")
			}
			c.value(at+".httpCookie.name", ck.Name)
			c.value(at+".httpCookie.path", ck.Path)
			if ck.TTL != nil {
				c.duration(at+".httpCookie.ttl", *ck.TTL, time.Millisecond)
			}
		}
	}
	if l := lb.LocalityLbSetting; l != nil {
		c.locality(field+".localityLbSetting", *l)
	}
	c.duration(field+".warmupDurationSecs", lb.WarmupDurationSecs, time.Millisecond)
}

func (c *checker) locality(field string, l LocalityLbSetting) {
	if len(l.Distribute) > 0 && len(l.Failover) > 0 {
		c.add(field, "set distribute or failover, not both")
	}
	if c.count(field+".distribute", len(l.Distribute)) {
		for i, d := range l.Distribute {
			at := fmt.Sprintf("%s.distribute[%d]", field, i)
			c.value(at+".from", d.From)
			if !c.count(at+".to", len(d.To)) {
				continue
			}
			sum := uint64(0)
			for _, k := range slices.Sorted(maps.Keys(d.To)) {
				c.value(canary.FieldPath(at+".to", k), k)
				sum += uint64(d.To[k])
			}
			if sum != 100 {
				c.add(at+".to", "weights must sum to 100, got %d", sum)
			}
		}
	}
	if c.count(field+".failover", len(l.Failover)) {
		for i, f := range l.Failover {
			at := fmt.Sprintf("%s.failover[%d]", field, i)
			c.value(at+".from", f.From)
			c.value(at+".to", f.To)
			if f.From != "" && f.From == f.To {
				c.add(at, "from and to are the same region %q", cut(f.From))
			}
		}
	}
}

func (c *checker) tls(field string, t ClientTLSSettings) {
	if t.Mode == "" {
		c.add(field+".mode", "required: one of %s", strings.Join(TLSModes, ", "))
	}
	c.enum(field+".mode", t.Mode, TLSModes)
	for _, f := range []named[string]{{"clientCertificate", t.ClientCertificate}, {"privateKey", t.PrivateKey},
		{"caCertificates", t.CaCertificates}, {"sni", t.SNI}} {
		c.value(field+"."+f.key, f.v)
	}
	if c.count(field+".subjectAltNames", len(t.SubjectAltNames)) {
		for i, s := range t.SubjectAltNames {
			c.value(fmt.Sprintf("%s.subjectAltNames[%d]", field, i), s)
		}
	}
	switch t.Mode {
	case "MUTUAL":
		if t.ClientCertificate == "" {
			c.add(field+".clientCertificate", "required with mode MUTUAL")
		}
		if t.PrivateKey == "" {
			c.add(field+".privateKey", "required with mode MUTUAL")
		}
	case "ISTIO_MUTUAL":
		if t.ClientCertificate != "" || t.PrivateKey != "" || t.CaCertificates != "" {
			c.add(field, "mode ISTIO_MUTUAL uses Istio's certificates: leave clientCertificate, privateKey and caCertificates out")
		}
	}
}
