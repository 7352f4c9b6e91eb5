package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
)

// Datadog's metrics query API (v1), as Flagger's datadog MetricTemplate provider uses it.
const (
	// DefaultDatadogAddress is the API's address when a template names none (Flagger's).
	DefaultDatadogAddress = "https://api.datadoghq.com"
	// DatadogIntervals is how many metric intervals a Datadog query looks back, as Flagger:
	// from = now − DatadogIntervals × the metric's interval (see DatadogWindow).
	DatadogIntervals = 10
	// DefaultDatadogWindow is DatadogWindow of canary.DefaultMetricInterval.
	DefaultDatadogWindow = DatadogIntervals * canary.DefaultMetricInterval
)

// DatadogWindow is the span Flagger queries Datadog over for a metric of the given interval
// (10 intervals): DatadogOptions.Window for that metric.
func DatadogWindow(metricInterval time.Duration) time.Duration {
	return DatadogIntervals * metricInterval
}

// DatadogOptions configure NewDatadog: what a Flagger MetricTemplate of type datadog and its
// secret carry, the window of the metric it serves, TLS and timeouts. Zero fields mean the
// default.
type DatadogOptions struct {
	// Address is the base URL of Datadog's API (a site such as https://api.datadoghq.eu, or a
	// proxy; a path prefix is kept). Default DefaultDatadogAddress.
	Address string
	// APIKey and ApplicationKey are sent as the DD-API-KEY and DD-APPLICATION-KEY headers,
	// only to Address's scheme and host (Flagger's secret keys datadog_api_key and
	// datadog_application_key). Both required.
	APIKey, ApplicationKey string
	// Window is the span of each query: from = now − Window, to = now. Default
	// DefaultDatadogWindow; DatadogWindow gives Flagger's window for a metric's interval.
	Window time.Duration
	// CA is a PEM bundle of certificate authorities to trust instead of the system pool.
	CA []byte
	// InsecureSkipVerify disables certificate verification.
	InsecureSkipVerify bool
	// Timeout bounds each query attempt. Default DefaultQueryTimeout (Flagger's 5 s).
	Timeout time.Duration
	// RetryTimeout bounds how long one Query retries transient failures when its context has
	// no earlier deadline. Default DefaultRetryTimeout.
	RetryTimeout time.Duration
	// Pool shares connections with the other providers for the same server, as
	// PrometheusOptions.Pool. Default: the process-wide pool.
	Pool *Pool
	// Transport sends the requests instead of a Pool's transport; it cannot be combined with
	// CA, InsecureSkipVerify or Pool. The keys are still added, and only for Address's scheme
	// and host.
	Transport http.RoundTripper
	// Clock gives now, the end of the window. Default: the real clock.
	Clock clock.PassiveClock
	// Logger receives retries (V(1)). Default: discard.
	Logger logr.Logger
}

// Datadog runs metric queries against Datadog's v1 query API (GET /api/v1/query with query,
// from and to): it implements canary.MetricProvider. The value is the most recent non-null
// point of the query's one series. Transient failures are retried as Prometheus' are. Safe for
// concurrent use.
type Datadog struct {
	endpoint *url.URL // the server's /api/v1/query, with the address's own query parameters
	client   *http.Client
	window   time.Duration
	clock    clock.PassiveClock
	retrier
}

var _ canary.MetricProvider = (*Datadog)(nil)

// NewDatadog validates opts, reporting every problem at once, and returns a provider. It does
// not contact the server.
func NewDatadog(opts DatadogOptions) (*Datadog, error) {
	if opts.Address == "" {
		opts.Address = DefaultDatadogAddress
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rt := opts.Transport
	if rt == nil {
		pool := opts.Pool
		if pool == nil {
			pool = defaultPool
		}
		rt = pool.transport(opts.Address, opts.CA, opts.InsecureSkipVerify)
	}
	keys := http.Header{"Dd-Api-Key": {opts.APIKey}, "Dd-Application-Key": {opts.ApplicationKey}}
	u, _ := url.Parse(strings.TrimRight(opts.Address, "/")) // validated
	u.Path = path.Join(strings.TrimRight(u.Path, "/"), "/api/v1/query")
	d := &Datadog{
		endpoint: u,
		client:   &http.Client{Transport: newServerTransport(rt, opts.Address, Credentials{}, keys)},
		window:   opts.Window,
		clock:    opts.Clock,
		retrier:  newRetrier("Datadog", opts.Address, opts.Timeout, opts.RetryTimeout, opts.Logger),
	}
	if d.window == 0 {
		d.window = DefaultDatadogWindow
	}
	if d.clock == nil {
		d.clock = clock.RealClock{}
	}
	return d, nil
}

func (o *DatadogOptions) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if u, err := url.Parse(o.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("Address: must be an absolute http(s) URL, got %q", canary.RedactURL(o.Address))
	}
	if o.APIKey == "" {
		add("APIKey: required")
	}
	if o.ApplicationKey == "" {
		add("ApplicationKey: required")
	}
	for _, k := range []struct{ name, key string }{{"APIKey", o.APIKey}, {"ApplicationKey", o.ApplicationKey}} {
		if !canary.IsHeaderValue(k.key) {
			add("%s: must not contain line breaks or other control characters (a key file's trailing newline?)", k.name)
		}
	}
	if o.Window < 0 {
		add("Window: must not be negative, got %s", o.Window)
	} else if o.Window > 0 && o.Window < time.Second {
		add("Window: must be at least 1s (Datadog's resolution), got %s", o.Window)
	}
	problems = append(problems, connectionProblems(o.CA, o.InsecureSkipVerify, o.Transport, o.Pool, o.Timeout, o.RetryTimeout)...)
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: datadog: %s", ErrInvalidOptions, strings.Join(problems, "; "))
}

// Query runs query over the window ending now and returns the most recent non-null point of
// its one series. No series, or only null points, is an error wrapping canary.ErrNoData;
// several series wrap ErrMultipleSeries; an answer that does not decode wraps
// ErrUnexpectedResult, and so does a successful answer with neither "status": "ok" nor
// "series"; Datadog's refusal (a 4xx other than 408 and 429, or an answer whose status is
// "error" or that carries {"errors": [...]}) fails at once with Datadog's text. The query is sent as written. Every
// error is a *QueryError.
func (d *Datadog) Query(ctx context.Context, query string) (float64, error) {
	to := d.clock.Now()
	from := to.Add(-d.window)
	u := *d.endpoint
	v := u.Query()
	v.Set("query", query)
	v.Set("from", strconv.FormatInt(from.Unix(), 10))
	v.Set("to", strconv.FormatInt(to.Unix(), 10))
	u.RawQuery = v.Encode()
	target := u.String()
	series, err := retryQuery(ctx, &d.retrier, query, func(ctx context.Context) ([]datadogSeries, []string, error) {
		s, err := d.get(ctx, target)
		return s, nil, err
	})
	if err != nil {
		return 0, err
	}
	f, err := lastPoint(series)
	if err != nil {
		return 0, &QueryError{Query: query, Err: err}
	}
	return f, nil
}

// datadogAnswer is the part of Datadog's query answer the provider reads.
type datadogAnswer struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	// Errors is the shape of Datadog's error answers, {"errors": [...]}.
	Errors []string        `json:"errors"`
	Series []datadogSeries `json:"series"`
}

type datadogSeries struct {
	// Expression and Scope name the series in errors.
	Expression string `json:"expression"`
	Scope      string `json:"scope"`
	// Pointlist holds [timestamp in ms, value] pairs; a value may be null.
	Pointlist [][]*float64 `json:"pointlist"`
}

// get makes one request and decodes its answer.
func (d *Datadog) get(ctx context.Context, target string) ([]datadogSeries, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header["Accept"] = []string{"application/json"}
	res, err := d.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return nil, readError(ctx, err) // a body over MaxResponseBytes: ErrUnexpectedResult (queryError)
	}
	if res.StatusCode/100 != 2 {
		return nil, &statusError{code: res.StatusCode, msg: datadogErrorText(buf.Bytes())}
	}
	var a datadogAnswer
	if err := json.Unmarshal(buf.Bytes(), &a); err != nil {
		// Not Datadog's answer (a proxy's page): ErrUnexpectedResult (queryError).
		return nil, fmt.Errorf("not Datadog's query answer: %s", boundText(err.Error()))
	}
	switch {
	case len(a.Errors) > 0:
		// Datadog's error answer with a successful status (a proxy's, or an API's that
		// answers 200): the query was refused, whatever the series say.
		return nil, &statusError{code: res.StatusCode, msg: boundText(strings.Join(a.Errors, "; ")), refused: true}
	case a.Status == "error" || a.Error != "":
		// Datadog refused the query in a successful answer.
		return nil, &statusError{code: res.StatusCode, msg: boundText(a.Error), refused: true}
	case a.Series == nil && a.Status != "ok":
		// {} or null, or another API's JSON: no answer of the query API, so no "no data"
		// either (ErrUnexpectedResult, queryError).
		return nil, errors.New(`not Datadog's query answer: neither "status": "ok" nor "series"`)
	}
	return a.Series, nil
}

// datadogErrorText is the text of an error answer: Datadog's {"errors": [...]}, or the body
// itself (a proxy's page), bounded.
func datadogErrorText(body []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		return boundText(strings.Join(e.Errors, "; "))
	}
	return boundText(strings.TrimSpace(string(body)))
}

// lastPoint is the value of the most recent non-null point of the one series.
func lastPoint(series []datadogSeries) (float64, error) {
	switch len(series) {
	case 0:
		return 0, noDataError{"no series"}
	case 1:
	default:
		const show = 3
		var names []string
		for i, s := range series {
			if i == show {
				names = append(names, fmt.Sprintf("and %d more", len(series)-show))
				break
			}
			names = append(names, boundText(s.Expression+" "+s.Scope))
		}
		return 0, fmt.Errorf("%w: %d series, want 1 (aggregate them, e.g. sum:metric{...} without a by clause): %s",
			ErrMultipleSeries, len(series), strings.Join(names, ", "))
	}
	found, latest, value := false, 0.0, 0.0
	for _, p := range series[0].Pointlist {
		if len(p) != 2 || p[0] == nil {
			return 0, fmt.Errorf("%w: a point that is not [timestamp, value]", ErrUnexpectedResult)
		}
		if p[1] == nil {
			continue
		}
		if !found || *p[0] >= latest {
			found, latest, value = true, *p[0], *p[1]
		}
	}
	if !found {
		return 0, noDataError{fmt.Sprintf("no non-null point in %d", len(series[0].Pointlist))}
	}
	return value, nil
}
