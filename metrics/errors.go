package metrics

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/canarykit/canarykit/canary"
)

// Sentinel errors; test with errors.Is. A query without data wraps canary.ErrNoData.
var (
	// ErrInvalidOptions: a constructor refused its options; the message lists every problem.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrMultipleSeries: an instant query returned several series where one value was expected.
	// Aggregate them (sum, max, ...) or narrow the selector.
	ErrMultipleSeries = errors.New("query returned several series")
	// ErrUnexpectedResult: a query returned a range vector (matrix), a string or a native
	// histogram where a number was expected.
	ErrUnexpectedResult = errors.New("unexpected query result")
	// ErrUnavailable: the metrics server (Prometheus, Datadog) could not be reached, did not
	// answer in time or answered with a server error, on every attempt within the query's time budget: nothing was measured.
	// errors.Is(err, canary.ErrUnavailable) holds too, so a Rollout holds the step rather than
	// counting a failed check (see canary.ErrUnavailable).
	ErrUnavailable error = unavailable{}
	// ErrInconclusive: the judge's score is marginal, between the marginal and pass scores. The
	// check's verdict is canary.VerdictInconclusive, so the metric's OnNoData policy decides
	// what a marginal score does: fail (Flagger's default, Kayenta's verdict at the end of an
	// analysis), hold (keep the weight and look again, Kayenta's verdict between intervals) or
	// ignore.
	ErrInconclusive = errors.New("inconclusive")
)

// QueryError is the error a query fails with: the query as sent, the server's own error type
// and message when it answered (Prometheus' type; client_error or server_error with
// Datadog's text), and how many requests were made.
type QueryError struct {
	// Query is the resolved query, as sent to the server.
	Query string
	// Type is Prometheus' error type (bad_data, execution, timeout, server_error, ...), or ""
	// when the failure was not an error answer from Prometheus (no data, a connection error).
	Type string
	// Attempts is the number of requests made (more than one when transient failures were
	// retried).
	Attempts int
	// Err is the cause: Prometheus' error, a connection error, or a result error wrapping
	// canary.ErrNoData, ErrMultipleSeries or ErrUnexpectedResult.
	Err error
}

func (e *QueryError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	b.WriteString(": query ")
	b.WriteString(e.Query)
	return b.String()
}

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }

// noDataError is a result without a value; errors.Is(err, canary.ErrNoData) holds.
type noDataError struct{ why string }

func (e noDataError) Error() string        { return e.why }
func (e noDataError) Is(target error) bool { return target == canary.ErrNoData }

// unavailable is ErrUnavailable: it matches canary.ErrUnavailable as well.
type unavailable struct{}

func (unavailable) Error() string        { return "metrics server unavailable" }
func (unavailable) Is(target error) bool { return target == canary.ErrUnavailable }

// unavailableError says which server could not be reached (or failed) and why; it wraps
// ErrUnavailable, the last cause and, when the time budget ran out, the context's error.
type unavailableError struct {
	server  string // "Prometheus", "Datadog"
	address string
	cause   error
	gaveUp  error
}

func (e *unavailableError) Error() string {
	var b strings.Builder
	var apiErr *v1.Error
	var status *statusError
	if errors.As(e.cause, &apiErr) || errors.As(e.cause, &status) {
		fmt.Fprintf(&b, "%s at %s failed: %v", e.server, e.address, e.cause)
	} else {
		fmt.Fprintf(&b, "could not reach %s at %s: %v", e.server, e.address, e.cause)
	}
	if e.gaveUp != nil {
		fmt.Fprintf(&b, " (gave up: %v)", e.gaveUp)
	}
	return b.String()
}

func (e *unavailableError) Unwrap() []error {
	errs := []error{ErrUnavailable, e.cause}
	if e.gaveUp != nil {
		errs = append(errs, e.gaveUp)
	}
	return errs
}
