package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/progress"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/metrics"
)

// validate checks a Canary and the Flagger objects it refers to without a cluster: nothing is
// read but the files. Each problem is printed as "FILE: FIELD: MESSAGE"; references the -t files
// do not hold are listed, since run reads them from the cluster. Exit 0 when the manifest would
// run, 1 when it has problems.
func (c *cli) validate(ctx context.Context, o *options, args []string) int {
	if err := noArgs(args); err != nil {
		return c.fail(err)
	}
	if o.file == "" {
		return c.fail(errors.New("-f canary.yaml is required"))
	}
	// a file that cannot be read is a usage error, told apart from a manifest with problems
	data := map[string][]byte{}
	for _, f := range append([]string{o.file}, o.objectFiles...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return c.fail(err)
		}
		data[f] = b
	}
	r := report{w: c.stdout}
	m := r.loadCanary(o.file, data[o.file])
	given := &flagger.Objects{}
	for _, f := range o.objectFiles {
		given = r.loadObjects(f, data[f], given)
	}
	switch {
	case m != nil && given != nil:
		r.check(ctx, progress.Printable(o.file), m, given)
	case m != nil:
		fmt.Fprintf(c.stdout, "%s: references and analysis not checked: the -t files have problems\n", progress.Printable(o.file))
	}
	if r.problems > 0 {
		fmt.Fprintf(c.stdout, "canaryctl: %s: %d %s: it would not run\n", progress.Printable(o.file), r.problems, plural(r.problems, "problem", "problems"))
		return exitRolledBack
	}
	fmt.Fprintf(c.stdout, "canaryctl: %s: Canary %s/%s would run (%s strategy", progress.Printable(o.file), m.Namespace, m.Name, m.Spec.Strategy())
	if r.fromCluster > 0 {
		fmt.Fprintf(c.stdout, "; %d %s from the cluster at run time", r.fromCluster, plural(r.fromCluster, "object", "objects"))
	}
	fmt.Fprintln(c.stdout, ")")
	return exitPromoted
}

// report prints validate's findings and counts the problems.
type report struct {
	w           io.Writer
	problems    int
	fromCluster int // references read from the cluster at run time
}

// problem prints err's problems, each by field path, as found in file.
func (r *report) problem(file string, err error) {
	var verr *canary.ValidationError
	if !errors.As(err, &verr) {
		r.problems++
		fmt.Fprintf(r.w, "%s: %s\n", progress.Printable(file), progress.Printable(err.Error())) // e.g. not YAML, or an object given twice
		return
	}
	for _, p := range verr.Problems {
		r.problems++
		fmt.Fprintf(r.w, "%s: %s: %s\n", progress.Printable(file), progress.Printable(manifestPath(p.Field)), progress.Printable(p.Message))
	}
}

// manifestPath is the Canary manifest's field for a field of the engine's configuration
// (canary.New and Spec.Validate name the fields of the spec they check, not of the manifest).
func manifestPath(field string) string {
	for _, prefix := range []string{"analysis.", "targetRef.", "service.", "progressDeadlineSeconds"} {
		if strings.HasPrefix(field, prefix) {
			return "spec." + field
		}
	}
	if field == "config.Router" {
		return "spec.provider"
	}
	return field
}

func (r *report) loadCanary(file string, data []byte) *flagger.Canary {
	m, err := flagger.LoadCanary(data)
	if err != nil {
		r.problem(file, err)
		return nil
	}
	for _, n := range m.Notes {
		fmt.Fprintf(r.w, "%s: note: %s\n", progress.Printable(file), progress.Printable(n))
	}
	return m
}

// loadObjects adds a -t file's objects to given; nil once any file has problems (the
// references can then not be told apart from missing ones).
func (r *report) loadObjects(file string, data []byte, given *flagger.Objects) *flagger.Objects {
	objs, err := flagger.LoadObjects(data)
	if err == nil && given != nil {
		err = given.Merge(objs)
	}
	if err != nil {
		r.problem(file, err)
		return nil
	}
	return given
}

// check resolves the references the -t files hold (file is the manifest's name as printed), lists those they do not, and builds the
// Rollout as run would (canary.New, with stand-ins for the cluster: it touches nothing), so
// that what run would refuse before touching the cluster is reported here.
func (r *report) check(ctx context.Context, file string, m *flagger.Canary, given *flagger.Objects) {
	c := *m
	c.TemplateRefs, c.Alerts = nil, nil
	var missing []flagger.MetricTemplateRef
	for _, ref := range m.TemplateRefs {
		if _, err := given.MetricTemplate(ctx, ref.Namespace, ref.Name); errors.Is(err, flagger.ErrNotFound) {
			missing = append(missing, ref)
			r.notGiven(file, ref.Path, "MetricTemplate", ref.Namespace, ref.Name)
			continue
		}
		c.TemplateRefs = append(c.TemplateRefs, ref)
	}
	for _, a := range m.Alerts {
		if _, err := given.AlertProvider(ctx, a.ProviderNamespace, a.ProviderName); errors.Is(err, flagger.ErrNotFound) {
			r.notGiven(file, a.Path, "AlertProvider", a.ProviderNamespace, a.ProviderName)
			continue
		}
		c.Alerts = append(c.Alerts, a)
	}
	if err := c.Resolve(ctx, given); err != nil {
		// Resolve changes nothing on error: the templated metrics get stand-in queries below,
		// and the rest of the spec is still checked
		r.problem(file, err)
		missing = m.TemplateRefs
	}
	for _, ref := range c.TemplateRefs {
		if ref.Template == nil {
			continue
		}
		if s := ref.Template.Provider.SecretRef; s != "" {
			r.fromCluster++
			fmt.Fprintf(r.w, "%s: %s: read from the cluster at run time: Secret %s/%s (spec.provider.secretRef of MetricTemplate %s)\n",
				file, ref.Path, ref.Template.Namespace, s, ref.Template.Key())
		}
	}
	for _, a := range c.Alerts {
		if a.Provider == nil {
			continue
		}
		if s := a.Provider.SecretRef; s != "" {
			r.fromCluster++
			fmt.Fprintf(r.w, "%s: %s: read from the cluster at run time: Secret %s/%s (spec.secretRef of AlertProvider %s)\n",
				file, a.Path, a.Provider.Namespace, s, a.Provider.Key())
		}
	}
	spec := c.Spec
	spec.Metrics = slices.Clone(spec.Metrics)
	for _, ref := range missing {
		// the template's query is checked at run time; everything else about the metric now
		spec.Metrics[ref.Metric].Query = "template " + ref.Namespace + "/" + ref.Name
	}
	cfg := canary.Config{Target: c.Target, Spec: spec, Workload: standInWorkload{}, Router: standInRouter{},
		Metrics: standInMetrics{}, Webhooks: standInGate{}, Builtins: metrics.Linkerd()}
	if c.Router.Kind == flagger.RouterKubernetes {
		cfg.Router = switchingStandIn{}
	}
	if c.Sequential != nil { // the canarykit.dev/sequential-check annotation's check, bound by the driver
		cfg.Checkers = map[string]canary.Checker{spec.Metrics[c.Sequential.Metric].Name: canary.CheckerFunc(
			func(context.Context, canary.CheckRequest) (canary.CheckResult, error) {
				return canary.CheckResult{}, nil
			})}
	}
	if _, err := canary.New(cfg); err != nil {
		r.problem(file, err)
	}
}

func (r *report) notGiven(file, path, kind, namespace, name string) {
	r.fromCluster++
	fmt.Fprintf(r.w, "%s: %s: not given: %s %s/%s (read from the cluster at run time)\n", file, path, kind, namespace, name)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Stand-ins for the cluster, Prometheus and the webhooks: canary.New checks that the spec and
// its wiring hold together and calls none of them.
type (
	standInWorkload  struct{ canary.Workload }
	standInRouter    struct{ canary.MeshRouter }
	switchingStandIn struct{ canary.MeshRouter }
	standInMetrics   struct{ canary.MetricProvider }
	standInGate      struct{ canary.Gate }
)

// SwitchesOnly is what the kubernetes router (spec.provider: kubernetes) says.
func (switchingStandIn) SwitchesOnly() bool { return true }
