package metrics

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/cenkalti/backoff/v4"
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
	r, err := retryQuery(ctx, p, q, func(ctx context.Context) (instantValue, v1.Warnings, error) {
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
	r, err := retryQuery(ctx, p, q, func(ctx context.Context) (instantValue, v1.Warnings, error) {
		return p.endpoint.query(ctx, q, false)
	})
	return r.v, err
}

// retry runs a range query with retries (see retryQuery).
func (p *Prometheus) retry(ctx context.Context, q string, do func(context.Context) (model.Value, v1.Warnings, error)) (model.Value, error) {
	return retryQuery(ctx, p, q, do)
}

// retryQuery runs one request per attempt, each bounded by the query timeout, retrying
// transient failures with exponential backoff until the context's deadline (or RetryTimeout)
// would pass. The retry schedule is made only when a first attempt fails.
func retryQuery[T any](ctx context.Context, p *Prometheus, q string, do func(context.Context) (T, v1.Warnings, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.retryTimeout)
		defer cancel()
	}
	attempts := 0
	var last *QueryError
	var schedule backoff.BackOff
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
retries:
	for {
		attempts++
		v, qe, stop := attempt(ctx, p, q, do, last)
		if qe == nil {
			return v, nil
		}
		last = qe
		if stop || ctx.Err() != nil {
			break retries
		}
		if schedule == nil {
			schedule = &deadlineBackOff{ctx: ctx, next: p.newBackOff()}
			schedule.Reset()
		}
		wait := schedule.NextBackOff()
		if wait == backoff.Stop {
			break retries
		}
		p.log.V(1).Info("retrying prometheus query", "query", q, "attempt", attempts, "wait", wait, "error", last.Error())
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			break retries
		case <-timer.C:
		}
	}
	last.Attempts = attempts
	cause, cerr := last.Err, ctx.Err()
	switch {
	case permanent(cause):
	case attempts == 1 && errors.Is(cerr, context.Canceled) && errors.Is(cause, cerr):
		// The caller cancelled the only attempt: nothing is known of the server. (A deadline
		// that ends it is the server not answering in time: unavailable.)
	case cerr != nil && !errors.Is(cause, cerr):
		// Every attempt failed transiently: say so, keeping the last cause, and why we stopped.
		last.Err = &unavailableError{address: p.redacted, cause: cause, gaveUp: cerr}
	default:
		last.Err = &unavailableError{address: p.redacted, cause: cause}
	}
	var zero T
	return zero, last
}

// attempt runs one request bounded by the query timeout. It returns the failure as a
// QueryError, and whether retrying cannot help: Prometheus refused the query, or the time
// budget ran out (then the previous failure, if any, is returned: it says more).
func attempt[T any](ctx context.Context, p *Prometheus, q string, do func(context.Context) (T, v1.Warnings, error), prev *QueryError) (T, *QueryError, bool) {
	actx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	v, warnings, err := do(actx)
	if len(warnings) > 0 {
		p.log.V(1).Info("prometheus query warnings", "query", q, "warnings", []string(warnings))
	}
	if err == nil {
		return v, nil, false
	}
	if ctx.Err() != nil && prev != nil {
		return v, prev, true
	}
	qe := queryError(q, err)
	return v, qe, permanent(err) || ctx.Err() != nil
}

// defaultBackOff is the retry schedule: 100 ms doubling to 2 s, with jitter.
func (p *Prometheus) defaultBackOff() backoff.BackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second),
		backoff.WithMaxElapsedTime(0), // bounded by the context
	)
}

// deadlineBackOff stops retrying when the next attempt would start after ctx's deadline, so
// the last real error is reported rather than the context's.
type deadlineBackOff struct {
	ctx  context.Context
	next backoff.BackOff
}

func (b *deadlineBackOff) Reset() { b.next.Reset() }

func (b *deadlineBackOff) NextBackOff() time.Duration {
	d := b.next.NextBackOff()
	if dl, ok := b.ctx.Deadline(); ok && d != backoff.Stop && time.Until(dl) <= d {
		return backoff.Stop
	}
	return d
}

// queryError wraps err as a QueryError with Prometheus' error type and text. client_golang
// reports 5xx answers as server_error with the body as detail: the body's own error type and
// message are recovered from it. An answer that does not decode is ErrUnexpectedResult.
func queryError(q string, err error) *QueryError {
	qe := &QueryError{Query: q, Err: err}
	var apiErr *v1.Error
	switch {
	case errors.As(err, &apiErr):
		qe.Type = string(apiErr.Type)
		var body struct {
			ErrorType string `json:"errorType"`
			Error     string `json:"error"`
		}
		bounded := &v1.Error{Type: apiErr.Type, Msg: boundText(apiErr.Msg), Detail: boundText(apiErr.Detail)}
		qe.Err = bounded
		if apiErr.Detail != "" && json.Unmarshal([]byte(apiErr.Detail), &body) == nil && body.Error != "" {
			qe.Type = body.ErrorType
			qe.Err = &v1.Error{Type: v1.ErrorType(body.ErrorType), Msg: boundText(body.Error) + " (" + bounded.Msg + ")", Detail: bounded.Detail}
		}
		if apiErr.Type == v1.ErrBadResponse { // not Prometheus' API answering (a login page...)
			qe.Err = fmt.Errorf("%w: %w", ErrUnexpectedResult, qe.Err)
		}
	case !transport(err):
		// client_golang's Query fails otherwise only when the result does not decode.
		qe.Err = fmt.Errorf("%w: %w", ErrUnexpectedResult, err)
	}
	return qe
}

// transport reports whether err happened on the way to or from the server (connection,
// timeout, cancellation) rather than in Prometheus' answer.
func transport(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// permanent reports whether retrying err cannot help: Prometheus refused the query (bad_data,
// execution), a 4xx other than 408 and 429, an answer that is not Prometheus' API, a TLS
// verification failure.
func permanent(err error) bool {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Type {
		case v1.ErrBadData, v1.ErrExec, v1.ErrBadResponse:
			return true
		case v1.ErrClient:
			return !strings.HasSuffix(apiErr.Msg, ": 408") && !strings.HasSuffix(apiErr.Msg, ": 429")
		}
		return false
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	return !transport(err)
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
