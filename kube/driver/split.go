package driver

import (
	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/metrics"
)

// splitMesh is the data plane whose metrics measure the split a router of kind k writes, and
// false for a router with no split to measure.
func splitMesh(k flagger.RouterKind) (metrics.Mesh, bool) {
	switch k {
	case flagger.RouterSMI, flagger.RouterHTTPRoute:
		return metrics.MeshLinkerd, true
	case flagger.RouterIstio:
		return metrics.MeshIstio, true
	case flagger.RouterNGINX:
		return metrics.MeshNGINX, true
	}
	return "", false
}

// splitQueries are the split check's queries for c (canary.Config.Split), run by provider, the
// Prometheus of c's metrics: the one its built-in checks use, else spec.metricsServer or
// Options.Prometheus, else the first metric template's. nil when the check is off, the router
// is the caller's own (Options.Router: its data plane is unknown), the router has no split to
// measure, or no Prometheus is known.
func (d *Driver) splitQueries(c *flagger.Canary, spec canary.Spec, provider canary.MetricProvider) *canary.SplitQueries {
	if spec.SplitCheck == canary.SplitOff || d.opts.Router != nil {
		return nil
	}
	mesh, ok := splitMesh(d.routers.choice(c).Kind)
	if !ok {
		return nil
	}
	q, ok := metrics.SplitQueries(mesh)
	if !ok {
		return nil
	}
	q.Provider = provider
	if q.Provider == nil {
		addr := c.MetricsServer
		if addr == "" {
			addr = d.opts.Prometheus
		}
		if addr != "" {
			if p, err := d.prometheus(metrics.PrometheusOptions{Address: addr}); err == nil {
				q.Provider = p
			}
		}
	}
	for _, m := range spec.Metrics {
		if q.Provider == nil {
			q.Provider = m.Provider
		}
	}
	if q.Provider == nil {
		return nil
	}
	return q
}
