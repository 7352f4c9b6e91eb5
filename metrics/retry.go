package metrics

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// retrier is what the providers (Prometheus, Datadog) share to run one query: each attempt
// bounded by the query timeout, transient failures retried with backoff within the query's
// time budget, and the outcome classified the same way (permanent, or ErrUnavailable naming
// the server).
type retrier struct {
	server       string // the server's kind, for messages: "Prometheus", "Datadog"
	logName      string // the same in lower case, for log lines: "prometheus"
	redacted     string // the server's address without a password, for messages
	timeout      time.Duration
	retryTimeout time.Duration
	log          logr.Logger
	// newBackOff returns the retry schedule of one query (replaced by tests).
	newBackOff func() backoff.BackOff
}

// newRetrier applies the defaults of a provider's Timeout, RetryTimeout and Logger.
func newRetrier(server, address string, timeout, retryTimeout time.Duration, log logr.Logger) retrier {
	r := retrier{server: server, logName: strings.ToLower(server), redacted: redactURL(address), timeout: timeout, retryTimeout: retryTimeout, log: log}
	if r.timeout == 0 {
		r.timeout = DefaultQueryTimeout
	}
	if r.retryTimeout == 0 {
		r.retryTimeout = DefaultRetryTimeout
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	r.newBackOff = defaultBackOff
	return r
}

// retryQuery runs one request per attempt, each bounded by the query timeout, retrying
// transient failures with exponential backoff until the context's deadline (or RetryTimeout)
// would pass. The retry schedule is made only when a first attempt fails. do returns the
// server's warnings, if it has any, which are logged.
func retryQuery[T any](ctx context.Context, r *retrier, q string, do func(context.Context) (T, []string, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.retryTimeout)
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
		v, qe, stop := attempt(ctx, r, q, do, last)
		if qe == nil {
			return v, nil
		}
		last = qe
		if stop || ctx.Err() != nil {
			break retries
		}
		if schedule == nil {
			schedule = &deadlineBackOff{ctx: ctx, next: r.newBackOff()}
			schedule.Reset()
		}
		wait := schedule.NextBackOff()
		if wait == backoff.Stop {
			break retries
		}
		r.log.V(1).Info("retrying "+r.logName+" query", "query", q, "attempt", attempts, "wait", wait, "error", last.Error())
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
		last.Err = &unavailableError{server: r.server, address: r.redacted, cause: cause, gaveUp: cerr}
	default:
		last.Err = &unavailableError{server: r.server, address: r.redacted, cause: cause}
	}
	var zero T
	return zero, last
}

// attempt runs one request bounded by the query timeout. It returns the failure as a
// QueryError, and whether retrying cannot help: the server refused the query, or the time
// budget ran out (then the previous failure, if any, is returned: it says more).
func attempt[T any](ctx context.Context, r *retrier, q string, do func(context.Context) (T, []string, error), prev *QueryError) (T, *QueryError, bool) {
	actx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, warnings, err := do(actx)
	if len(warnings) > 0 {
		r.log.V(1).Info(r.logName+" query warnings", "query", q, "warnings", warnings)
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
func defaultBackOff() backoff.BackOff {
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

// queryError wraps err as a QueryError with the server's error type and text. A Datadog
// error answer is a *statusError. client_golang
// reports 5xx answers as server_error with the body as detail: the body's own error type and
// message are recovered from it. An answer that does not decode is ErrUnexpectedResult.
func queryError(q string, err error) *QueryError {
	qe := &QueryError{Query: q, Err: err}
	var apiErr *v1.Error
	var status *statusError
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		// net/http's transport errors quote the request's URL, with the address's query
		// values (and, for a GET, the query as parameters)
		urlErr.URL = redactURL(urlErr.URL)
	}
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
	case errors.As(err, &status):
		qe.Type = status.kind()
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

// permanent reports whether retrying err cannot help: the server refused the query
// (Prometheus' bad_data, execution), a 4xx other than 408 and 429, an answer that is not the
// server's API, a TLS verification failure.
func permanent(err error) bool {
	var status *statusError
	if errors.As(err, &status) {
		return status.refused || status.code/100 != 5 && status.code != http.StatusRequestTimeout && status.code != http.StatusTooManyRequests
	}
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

// statusError is an error answer of a server whose API has no typed errors (Datadog): its
// HTTP status and its error text, bounded. permanent classifies it by status; refused is an
// answer that refused the query whatever its status (Datadog's status "error").
type statusError struct {
	code    int
	msg     string
	refused bool
}

func (e *statusError) Error() string {
	if e.refused {
		return "error: " + e.msg
	}
	if e.msg == "" {
		return fmt.Sprintf("%s: %d", e.kind(), e.code)
	}
	return fmt.Sprintf("%s: %d: %s", e.kind(), e.code, e.msg)
}

// kind is the error's type: "error" for a refusal, else in the words of Prometheus' client:
// client_error or server_error.
func (e *statusError) kind() string {
	if e.refused {
		return "error"
	}
	if e.code/100 == 5 {
		return string(v1.ErrServer)
	}
	return string(v1.ErrClient)
}

// connectionProblems are the problems of the options every provider shares: how it reaches its
// server (CA, InsecureSkipVerify, Transport, Pool) and its time budget (Timeout,
// RetryTimeout).
func connectionProblems(ca []byte, insecure bool, transport http.RoundTripper, pool *Pool, timeout, retryTimeout time.Duration) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(ca) > 0 && !x509.NewCertPool().AppendCertsFromPEM(ca) {
		add("CA: no PEM certificate found")
	}
	if transport != nil && (len(ca) > 0 || insecure) {
		add("Transport: cannot be combined with CA or InsecureSkipVerify; configure TLS on the transport")
	}
	if transport != nil && pool != nil {
		add("Transport: cannot be combined with Pool; set one of them")
	}
	if timeout < 0 {
		add("Timeout: must not be negative, got %s", timeout)
	}
	if retryTimeout < 0 {
		add("RetryTimeout: must not be negative, got %s", retryTimeout)
	}
	return problems
}
