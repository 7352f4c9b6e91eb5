package flagger

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
)

// Resolve looks up every templateRef and alert providerRef of the manifest in src, again
// each time (objects in the cluster may have changed): a templated metric gets the template's
// query (compacted, canary.CompactQuery, but a Datadog template's, sent as written), and each
// reference its object, for the wiring to build the template's metrics provider and the alert's notifier. Every problem is reported by
// the reference's path (a template whose query does not render with the Canary's variables
// too), and on error the manifest is left as it was. Nothing in the cluster is touched besides
// src's reads. Errors wrap canary.ErrInvalidSpec.
func (m *Canary) Resolve(ctx context.Context, src Source) error {
	d := &decoder{}
	noSource := "%s %s/%s: no source (give the Flagger objects as files, or read them from the cluster)"
	refs := slices.Clone(m.TemplateRefs)
	metrics := slices.Clone(m.Spec.Metrics)
	for i := range refs {
		ref := &refs[i]
		ref.Namespace = refNamespace(m, ref.CanaryNamespace, ref.Namespace)
		switch {
		case ref.Metric < 0 || ref.Metric >= len(metrics):
			d.fail(ref.Path, "refers to metric %d; the spec has %d", ref.Metric, len(metrics))
			continue
		case src == nil:
			d.fail(ref.Path, noSource, "MetricTemplate", ref.Namespace, ref.Name)
			continue
		}
		t, err := src.MetricTemplate(ctx, ref.Namespace, ref.Name)
		if err != nil {
			d.fail(ref.Path, "%v", err)
			continue
		}
		met, metricPath := metrics[ref.Metric], strings.TrimSuffix(ref.Path, ".templateRef")
		met.Query = t.Query
		if t.Provider.Type != MetricProviderDatadog { // PromQL's lexical structure; Datadog's as written
			met.Query = canary.CompactQuery(t.Query)
		} else if bad := datadogVariables(metricPath, met.Variables); len(bad) > 0 {
			for _, b := range bad {
				d.fail(b[0], "%s", b[1])
			}
			continue
		}
		var bad []canary.VariableProblem
		if t.Provider.Type == MetricProviderDatadog {
			_, err = canary.RenderQuery(met.Query, canary.VarsFor(m.Target, met))
		} else {
			bad, err = canary.PromQLVariableProblems(met.Query, canary.VarsFor(m.Target, met))
		}
		if err != nil {
			d.fail(ref.Path, "MetricTemplate %s spec.query: %v", t.Key(), err)
			continue
		}
		for _, b := range bad {
			d.fail(fmt.Sprintf("%s.templateVariables[%q]", metricPath, b.Key), "MetricTemplate %s: %s", t.Key(), b.Problem)
		}
		if len(bad) > 0 {
			continue
		}
		ref.Template, metrics[ref.Metric] = t, met
	}
	alerts := slices.Clone(m.Alerts)
	for i := range alerts {
		a := &alerts[i]
		a.ProviderNamespace = refNamespace(m, a.CanaryNamespace, a.ProviderNamespace)
		if src == nil {
			d.fail(a.Path, noSource, "AlertProvider", a.ProviderNamespace, a.ProviderName)
			continue
		}
		p, err := src.AlertProvider(ctx, a.ProviderNamespace, a.ProviderName)
		if err != nil {
			d.fail(a.Path, "%v", err)
			continue
		}
		a.Provider = p
	}
	if err := d.err(); err != nil {
		return err
	}
	spec := m.Spec
	spec.Metrics = metrics
	if err := spec.Validate(); err != nil {
		return err
	}
	m.TemplateRefs, m.Alerts, m.Spec = refs, alerts, spec
	return nil
}

// Unresolved lists the references not yet resolved, as "Kind namespace/name".
func (m *Canary) Unresolved() []string {
	var out []string
	for _, r := range m.TemplateRefs {
		if r.Template == nil {
			out = append(out, "MetricTemplate "+refNamespace(m, r.CanaryNamespace, r.Namespace)+"/"+r.Name)
		}
	}
	for _, a := range m.Alerts {
		if a.Provider == nil {
			out = append(out, "AlertProvider "+refNamespace(m, a.CanaryNamespace, a.ProviderNamespace)+"/"+a.ProviderName)
		}
	}
	return out
}

// datadogVariables are the problems, as (path, message), of a metric's templateVariables that a
// Datadog template would take: Datadog's queries have no quoted strings, so a tag value is
// written bare (kube_deployment:{{ variables.app }}), and a value with a brace, a comma, a space
// or an operator would end the tag and add to the query (x} + sum:requests{kube_namespace:other
// reads another namespace's series with the template's keys). A value is held to what a
// Datadog tag may hold: letters, digits, '_', '-', '.', ':' and '/'.
func datadogVariables(metric string, vars map[string]string) [][2]string {
	var out [][2]string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if i := strings.IndexFunc(vars[k], notDatadogTag); i >= 0 {
			out = append(out, [2]string{fmt.Sprintf("%s.templateVariables[%q]", metric, k),
				fmt.Sprintf("a Datadog template writes it bare in its query, so it may hold only letters, digits, '_', '-', '.', ':' and '/' (a Datadog tag's characters): %q at byte %d", vars[k][i:i+1], i)})
		}
	}
	return out
}

func notDatadogTag(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-.:/", r))
}

// refNamespace is the namespace of an object a Canary refers to: the Canary's, wherever it is
// now, when the manifest gave none (canaryNamespace: MetricTemplateRef.CanaryNamespace,
// AlertRef.CanaryNamespace), else the one given.
func refNamespace(m *Canary, canaryNamespace bool, given string) string {
	if canaryNamespace {
		return m.Namespace
	}
	return given
}
