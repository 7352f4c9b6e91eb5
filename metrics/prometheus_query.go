package metrics

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/canarykit/canarykit/canary"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// rangeQuerier runs a range query, for PrometheusSamples: the one method of client_golang's
// v1.API the provider uses, so that test doubles implement one method.
type rangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, error)
}

// Query runs an instant query at the server's current time and returns its value: a scalar or
// a vector with exactly one sample. An empty vector or NaN (a ratio of rates without traffic)
// is an error wrapping canary.ErrNoData; several series wrap ErrMultipleSeries; a range vector
// or a string wraps ErrUnexpectedResult. The query is compacted before sending
// (canary.CompactQuery: whitespace runs folded, as Flagger does, comments dropped). Every error is a *QueryError.
func (p *Prometheus) Query(ctx context.Context, query string) (float64, error) {
	q := canary.CompactQuery(query)
	r, err := retryQuery(ctx, &p.retrier, q, func(ctx context.Context) (instantValue, []string, error) {
		return p.endpoint.query(ctx, q, true)
	})
	if err != nil {
		return 0, err
	}
	f := r.f
	if r.v != nil {
		f, err = singleValue(r.v)
	} else {
		err = checkNaN(f)
	}
	if err != nil {
		return 0, &QueryError{Query: q, Err: err}
	}
	return f, nil
}

// instant runs an instant query at the server's time, with retries, and returns its whole
// value.
func (p *Prometheus) instant(ctx context.Context, q string) (model.Value, error) {
	r, err := retryQuery(ctx, &p.retrier, q, func(ctx context.Context) (instantValue, []string, error) {
		return p.endpoint.query(ctx, q, false)
	})
	return r.v, err
}

// retry runs a range query with retries (see retryQuery).
func (p *Prometheus) retry(ctx context.Context, q string, do func(context.Context) (model.Value, v1.Warnings, error)) (model.Value, error) {
	return retryQuery(ctx, &p.retrier, q, func(ctx context.Context) (model.Value, []string, error) {
		v, warnings, err := do(ctx)
		return v, warnings, err
	})
}

// singleValue returns the one number of an instant query's result.
func singleValue(v model.Value) (float64, error) {
	var f float64
	switch r := v.(type) {
	case *model.Scalar:
		f = float64(r.Value)
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, noDataError{"empty result"}
		case 1:
		default:
			return 0, fmt.Errorf("%w: %d series, want 1 (aggregate them, e.g. with sum): %s", ErrMultipleSeries, len(r), labelSets(r))
		}
		if r[0].Histogram != nil {
			return 0, fmt.Errorf("%w: a native histogram sample; use histogram_quantile or histogram_count", ErrUnexpectedResult)
		}
		f = float64(r[0].Value)
	case model.Matrix:
		return 0, fmt.Errorf("%w: a range vector (%d series); use an instant vector, e.g. rate(x[1m]) rather than x[1m]", ErrUnexpectedResult, len(r))
	case *model.String:
		return 0, fmt.Errorf("%w: a string %q", ErrUnexpectedResult, r.Value)
	default:
		return 0, fmt.Errorf("%w: result type %T", ErrUnexpectedResult, v)
	}
	return f, checkNaN(f)
}

// checkNaN is the error of a NaN result: no data.
func checkNaN(f float64) error {
	if math.IsNaN(f) {
		return noDataError{"result is NaN (a ratio without traffic?)"}
	}
	return nil
}

// labelSets lists the first label sets of a vector, for error messages.
func labelSets(vec model.Vector) string {
	const show = 3
	var parts []string
	for i, s := range vec {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(vec)-show))
			break
		}
		parts = append(parts, s.Metric.String())
	}
	return strings.Join(parts, ", ")
}
