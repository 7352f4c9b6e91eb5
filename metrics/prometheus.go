package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/canarykit/canarykit/canary"
)

// Defaults of PrometheusOptions.
const (
	// DefaultQueryTimeout bounds one query attempt, as Flagger's 5 s.
	DefaultQueryTimeout = 5 * time.Second
	// DefaultRetryTimeout bounds the retries of one Query whose context has no earlier deadline.
	DefaultRetryTimeout = 30 * time.Second
)

// PrometheusOptions configure NewPrometheus: the settings a Flagger MetricTemplate's provider
// and its secret carry, plus TLS and timeouts. Zero fields mean the default.
type PrometheusOptions struct {
	// Address is the base URL of the Prometheus HTTP API, e.g. "http://prometheus.monitoring:9090"
	// (a path prefix, as behind a proxy, is kept). Required.
	Address string
	// Credentials authenticate every request to Address's scheme and host (Flagger's
	// secretRef: token, or username and password); a redirect to another server does not
	// receive them. See SecretCredentials.
	Credentials Credentials
	// Headers are added to every request to Address's scheme and host, as Credentials
	// (Flagger's provider.headers). Names must be HTTP tokens and values free of line breaks
	// and other control characters, as net/http sends them; so must a BearerToken.
	Headers http.Header
	// CA is a PEM bundle of certificate authorities to trust instead of the system pool.
	CA []byte
	// InsecureSkipVerify disables certificate verification (Flagger's insecureSkipVerify).
	InsecureSkipVerify bool
	// Timeout bounds each query attempt and is passed to Prometheus as the query's evaluation
	// timeout. Default DefaultQueryTimeout.
	Timeout time.Duration
	// RetryTimeout bounds how long one Query retries transient failures (connection errors, 5xx,
	// timeouts) when its context has no earlier deadline; a Rollout gives every query the
	// analysis interval. Default DefaultRetryTimeout.
	RetryTimeout time.Duration
	// Pool shares connections with the other providers for the same server: the requests go
	// through its transport for this Address, CA and InsecureSkipVerify (see Pool for the
	// bounds). Default: a pool shared by every provider of the process that names none.
	Pool *Pool
	// Transport sends the requests instead of a Pool's transport. Set it for anything else
	// (client certificates, a proxy); it cannot be combined with CA or InsecureSkipVerify.
	// Credentials and Headers are still added, and only to requests for Address's scheme
	// and host.
	Transport http.RoundTripper
	// Logger receives retries (V(1)) and Prometheus' warnings (V(1)). Default: discard.
	Logger logr.Logger
}

// Credentials authenticate requests with a bearer token or with basic auth; set one of them.
type Credentials struct {
	BearerToken string
	Username    string
	Password    string
}

// SecretCredentials reads credentials from a Kubernetes secret's data the way Flagger reads a
// MetricTemplate's secretRef: the key "token" is a bearer token; otherwise "username" and
// "password" are both required.
func SecretCredentials(data map[string][]byte) (Credentials, error) {
	if tok, ok := data["token"]; ok {
		return Credentials{BearerToken: string(tok)}, nil
	}
	user, okU := data["username"]
	pass, okP := data["password"]
	switch {
	case !okU && !okP:
		return Credentials{}, errors.New(`secret has neither "token" nor "username" and "password"`)
	case !okU:
		return Credentials{}, errors.New(`secret has "password" but no "username"`)
	case !okP:
		return Credentials{}, errors.New(`secret has "username" but no "password"`)
	}
	return Credentials{Username: string(user), Password: string(pass)}, nil
}

// Prometheus runs instant queries against a Prometheus server: it implements
// canary.MetricProvider. Transient failures are retried with exponential backoff within the
// query's context; bad queries fail at once with Prometheus' own error. Safe for concurrent use.
type Prometheus struct {
	address  string
	endpoint *instantEndpoint
	rq       rangeQuerier
	retrier
}

var _ canary.MetricProvider = (*Prometheus)(nil)

// NewPrometheus validates opts, reporting every problem at once, and returns a provider. It
// does not contact the server.
func NewPrometheus(opts PrometheusOptions) (*Prometheus, error) {
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
	rt = newServerTransport(rt, opts.Address, opts.Credentials, opts.Headers)
	httpClient := &http.Client{Transport: rt}
	client, err := api.NewClient(api.Config{Address: strings.TrimRight(opts.Address, "/"), Client: httpClient})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	p := &Prometheus{
		address: opts.Address,
		rq:      v1.NewAPI(pointChecked{client}),
		retrier: newRetrier("Prometheus", opts.Address, opts.Timeout, opts.RetryTimeout, opts.Logger),
	}
	if p.endpoint, err = newInstantEndpoint(opts.Address, httpClient, p.timeout.String()); err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	return p, nil
}

// Address returns the server's base URL.
func (p *Prometheus) Address() string { return p.address }

// redactURL hides a password in a URL's user information and its query values (tokens, for
// some gateways).
func redactURL(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return canary.RedactURL(address)
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "redacted", false
	}
	return u.Redacted()
}

func (o *PrometheusOptions) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if o.Address == "" {
		add("Address: required")
	} else if u, err := url.Parse(o.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("Address: must be an absolute http(s) URL, got %q", canary.RedactURL(o.Address))
	}
	c := o.Credentials
	if c.BearerToken != "" && (c.Username != "" || c.Password != "") {
		add("Credentials: set a bearer token or a username and password, not both")
	}
	if (c.Username == "") != (c.Password == "") {
		add("Credentials: basic auth needs both a username and a password")
	}
	if (c != Credentials{}) && o.Headers.Get("Authorization") != "" {
		add("Headers: an Authorization header conflicts with Credentials; set one of them")
	}
	if c.BearerToken != "" && !canary.IsHeaderValue(c.BearerToken) {
		// not quoted: it is a credential (a Secret's token file often ends with a newline)
		add("Credentials.BearerToken: holds a line break or another control character, which no request can carry (a token file's trailing newline?)")
	}
	for _, fe := range canary.HeaderProblems("Headers", o.Headers) {
		problems = append(problems, fe.Error()) // values are not quoted: they may be credentials
	}
	problems = append(problems, connectionProblems(o.CA, o.InsecureSkipVerify, o.Transport, o.Pool, o.Timeout, o.RetryTimeout)...)
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: prometheus: %s", ErrInvalidOptions, strings.Join(problems, "; "))
}
