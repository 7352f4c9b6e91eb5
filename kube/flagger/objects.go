package flagger

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is wrapped by a Source that has no such MetricTemplate or AlertProvider.
var ErrNotFound = errors.New("not found")

// Source finds the Flagger objects a Canary refers to, by namespace and name: the Objects
// read from YAML (LoadObjects), the cluster's (kube/driver reads them), or several in order
// (Sources).
type Source interface {
	// MetricTemplate returns the template, or an error wrapping ErrNotFound.
	MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error)
	// AlertProvider returns the provider, or an error wrapping ErrNotFound.
	AlertProvider(ctx context.Context, namespace, name string) (*AlertProvider, error)
}

// Objects are Flagger objects read from YAML (LoadObjects): Canaries, and the MetricTemplates
// and AlertProviders they refer to. As a Source, it answers with its MetricTemplates and
// AlertProviders.
type Objects struct {
	// Canaries are loaded but not resolved (Canary.Resolve).
	Canaries        []*Canary
	MetricTemplates []MetricTemplate
	AlertProviders  []AlertProvider
}

var _ Source = (*Objects)(nil)

// MetricTemplate finds a template by namespace and name.
func (r *Objects) MetricTemplate(_ context.Context, namespace, name string) (*MetricTemplate, error) {
	return find(r.MetricTemplates, "MetricTemplate", namespace, name, func(t MetricTemplate) string { return t.Key() })
}

// AlertProvider finds a provider by namespace and name.
func (r *Objects) AlertProvider(_ context.Context, namespace, name string) (*AlertProvider, error) {
	return find(r.AlertProviders, "AlertProvider", namespace, name, func(p AlertProvider) string { return p.Key() })
}

// Canary finds a Canary by namespace and name: the one held, not a copy (Resolve fills it in).
func (r *Objects) Canary(namespace, name string) (*Canary, error) {
	c, err := find(r.Canaries, kindCanary, namespace, name, (*Canary).key)
	if err != nil {
		return nil, err
	}
	return *c, nil
}

func find[T any](items []T, kind, namespace, name string, key func(T) string) (*T, error) {
	for i := range items {
		if key(items[i]) == namespace+"/"+name {
			v := items[i]
			return &v, nil
		}
	}
	return nil, fmt.Errorf("%w: %s %s/%s is not among the %d given", ErrNotFound, kind, namespace, name, len(items))
}

// Sources asks each source in turn; the first that has the object wins.
type Sources []Source

var _ Source = Sources(nil)

// MetricTemplate asks each source in turn. Errors other than "not found" stop the search.
func (ss Sources) MetricTemplate(ctx context.Context, namespace, name string) (*MetricTemplate, error) {
	return firstFound(ss, "MetricTemplate", namespace, name, func(s Source) (*MetricTemplate, error) {
		return s.MetricTemplate(ctx, namespace, name)
	})
}

// AlertProvider asks each source in turn. Errors other than "not found" stop the search.
func (ss Sources) AlertProvider(ctx context.Context, namespace, name string) (*AlertProvider, error) {
	return firstFound(ss, "AlertProvider", namespace, name, func(s Source) (*AlertProvider, error) {
		return s.AlertProvider(ctx, namespace, name)
	})
}

func firstFound[T any](ss Sources, kind, namespace, name string, get func(Source) (*T, error)) (*T, error) {
	var missing []string
	for _, s := range ss {
		v, err := get(s)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		missing = append(missing, strings.TrimPrefix(err.Error(), ErrNotFound.Error()+": "))
	}
	if len(missing) == 0 {
		return nil, fmt.Errorf("%w: %s %s/%s: no source", ErrNotFound, kind, namespace, name)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, strings.Join(missing, "; "))
}

// Merge adds o's objects to r; an object both hold (same kind, namespace and name) is an
// error naming it, and nothing is added.
func (r *Objects) Merge(o *Objects) error {
	var dups []string
	for _, c := range o.Canaries {
		if _, err := r.Canary(c.Namespace, c.Name); err == nil {
			dups = append(dups, "Canary "+c.key())
		}
	}
	for _, t := range o.MetricTemplates {
		if _, err := find(r.MetricTemplates, "MetricTemplate", t.Namespace, t.Name, MetricTemplate.Key); err == nil {
			dups = append(dups, "MetricTemplate "+t.Key())
		}
	}
	for _, p := range o.AlertProviders {
		if _, err := find(r.AlertProviders, "AlertProvider", p.Namespace, p.Name, AlertProvider.Key); err == nil {
			dups = append(dups, "AlertProvider "+p.Key())
		}
	}
	if len(dups) > 0 {
		return fmt.Errorf("given twice: %s", strings.Join(dups, ", "))
	}
	r.Canaries = append(r.Canaries, o.Canaries...)
	r.MetricTemplates = append(r.MetricTemplates, o.MetricTemplates...)
	r.AlertProviders = append(r.AlertProviders, o.AlertProviders...)
	return nil
}
