package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/internal/httpx"
)

// Defaults of Options.
const (
	DefaultRetryInitialInterval = time.Second
	DefaultRetryMaxInterval     = 10 * time.Second
	DefaultUserAgent            = "canarykit-webhook"
)

// Options configure a Client. Zero fields mean "default"; New reports every problem at once.
type Options struct {
	// TLS configures https hooks. Not used with Transport.
	TLS TLSOptions
	// Transport sends the requests. Default: a clone of http.DefaultTransport (proxy from the
	// environment) with TLS applied. Set it for a custom proxy or instrumentation, and then
	// configure its TLS yourself (a hook's DisableTLS then has no effect).
	Transport http.RoundTripper
	// SigningKey, when set, signs every request body (see Sign); at least MinKeyLength bytes.
	SigningKey []byte
	// Header is added to the requests to HeaderHosts (e.g. Authorization for a receiver behind
	// a gateway).
	Header http.Header
	// HeaderHosts are the hosts Header goes to, each as a hook URL writes its host: a name or
	// address ("gate.example.com": any port) or with its port ("gate.example.com:8443": that
	// port only), matched without regard to case. Required with Header: a Canary's author
	// writes its hook URLs, and a credential in Header must not go to every one of them.
	HeaderHosts []string
	// RetryInitialInterval is the first wait before a retry; waits grow exponentially with
	// jitter up to RetryMaxInterval. Defaults 1s and 10s. A 429 or 503 answer's Retry-After
	// lengthens the next wait to what it asks, up to RetryMaxInterval.
	RetryInitialInterval time.Duration
	RetryMaxInterval     time.Duration
	// UserAgent names the client. Default "canarykit-webhook".
	UserAgent string
	// Logger receives retries at V(1). Default: discard.
	Logger logr.Logger
	// Clock stamps signatures and events without a time. Default: the real clock.
	Clock clock.PassiveClock
}

// Client runs hooks over HTTP the way Flagger does: POST the Payload as JSON, success is a
// status 200–202 whose body arrives whole, each attempt (body included) bounded by the hook's
// Timeout (default 10s), up to the hook's Retries more attempts (at most
// canary.MaxHookRetries) on connection errors, 429 and 5xx but 501 (other 4xx, 501, TLS
// verification failures, redirect loops and redirects to another host are final: a redirect is followed only to the same scheme,
// host and port, or from http up to https on the same host, since it would re-send the body
// and its signature). As a canary.Gate
// (Config.Webhooks) it answers true exactly when the call succeeded: open (confirm-*), passed
// (pre-rollout, rollout, post-rollout, event), or "roll back now" (rollback). Safe for
// concurrent use.
type Client struct {
	http        *http.Client
	insecure    *http.Client // for hooks with DisableTLS
	key         []byte
	header      http.Header
	headerHosts []hostPort
	initial     time.Duration
	maxInterval time.Duration
	userAgent   string
	log         logr.Logger
	clock       clock.PassiveClock
}

var _ canary.Gate = (*Client)(nil)

// New validates opts and returns a Client. Errors wrap ErrInvalidOptions.
func New(opts Options) (*Client, error) {
	var p problems
	if opts.Transport != nil && !opts.TLS.IsZero() {
		p.add("TLS: not used with Transport; configure the transport's TLS instead")
	}
	tlsCfg, err := opts.TLS.Config()
	if err != nil {
		p.add("%v", err)
	}
	if n := len(opts.SigningKey); n > 0 && n < MinKeyLength {
		p.add("SigningKey: must be at least %d bytes, got %d", MinKeyLength, n)
	}
	if len(opts.Header) > 0 && len(opts.HeaderHosts) == 0 {
		p.add("HeaderHosts: required with Header (the hosts it goes to): a Canary's author writes the hook URLs, and Header would go to every one")
	}
	var headerHosts []hostPort
	for i, h := range opts.HeaderHosts {
		u, err := url.Parse("http://" + h)
		if err != nil || h == "" || u.Host != h || u.User != nil || u.Hostname() == "" || strings.HasSuffix(h, ":") {
			p.add("HeaderHosts[%d]: %q is not a host or host:port", i, h)
			continue
		}
		headerHosts = append(headerHosts, hostPort{strings.ToLower(u.Hostname()), u.Port()})
	}
	if opts.RetryInitialInterval < 0 {
		p.add("RetryInitialInterval: must not be negative, got %s", opts.RetryInitialInterval)
	}
	if opts.RetryMaxInterval < 0 {
		p.add("RetryMaxInterval: must not be negative, got %s", opts.RetryMaxInterval)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	c := &Client{
		key:         bytes.Clone(opts.SigningKey),
		header:      opts.Header.Clone(),
		headerHosts: headerHosts,
		initial:     opts.RetryInitialInterval,
		maxInterval: opts.RetryMaxInterval,
		userAgent:   opts.UserAgent,
		log:         opts.Logger,
		clock:       opts.Clock,
	}
	if c.initial == 0 {
		c.initial = DefaultRetryInitialInterval
	}
	if c.maxInterval == 0 {
		c.maxInterval = max(DefaultRetryMaxInterval, c.initial)
	}
	if c.maxInterval < c.initial {
		return nil, fmt.Errorf("%w: RetryMaxInterval %s is shorter than RetryInitialInterval %s", ErrInvalidOptions, c.maxInterval, c.initial)
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.log.GetSink() == nil {
		c.log = logr.Discard()
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	rt := opts.Transport
	c.insecure = &http.Client{Transport: rt, CheckRedirect: httpx.SameHostRedirects}
	if rt == nil {
		tr := httpx.NewTransport()
		tr.TLSClientConfig = tlsCfg
		rt = tr
		// for hooks with disableTLS: the same settings without certificate verification
		itr := tr.Clone()
		if itr.TLSClientConfig == nil {
			itr.TLSClientConfig = &tls.Config{}
		}
		itr.TLSClientConfig.InsecureSkipVerify = true
		c.insecure = &http.Client{Transport: itr, CheckRedirect: httpx.SameHostRedirects}
	}
	c.http = &http.Client{Transport: rt, CheckRedirect: httpx.SameHostRedirects}
	return c, nil
}

// Allow runs req's hook with the payload NewPayload builds and reports whether it succeeded.
// A failure comes with an *Error saying why.
func (c *Client) Allow(ctx context.Context, req canary.GateRequest) (bool, error) {
	if _, err := c.Post(ctx, req.Hook, NewPayload(req, c.clock.Now())); err != nil {
		return false, err
	}
	return true, nil
}

// Result describes the last attempt of a hook call.
type Result struct {
	StatusCode int
	// Body is an excerpt of the response body (at most 512 bytes).
	Body     string
	Attempts int
}

// Post sends p to hook.URL with hook's Timeout (per attempt) and Retries, for callers that
// need the response, e.g. to open a flagger-loadtester gate at "<url>/gate/open". ctx bounds
// the whole call. A status outside 200–202 or a transport failure yields an *Error.
func (c *Client) Post(ctx context.Context, hook canary.Webhook, p Payload) (Result, error) {
	var res Result
	// until the URL parses, the message shows it without anything that may be a credential
	where := canary.RedactURL(hook.URL)
	fail := func(err error) error {
		e := &Error{Hook: hook.Name, Type: hook.Type, URL: where, Attempts: res.Attempts, Err: err}
		if errors.Is(err, ErrStatus) {
			e.StatusCode, e.Body = res.StatusCode, res.Body
		}
		return e
	}
	u, err := hookURL(hook.URL)
	if err != nil {
		return res, fail(err)
	}
	where = httpx.SafeURL(u)
	body, err := json.Marshal(p)
	if err != nil {
		return res, fail(fmt.Errorf("encode payload: %w", err))
	}
	timeout := hook.Timeout
	if timeout <= 0 {
		timeout = canary.DefaultHookTimeout
	}

	var last error
	b := &hintedBackOff{ExponentialBackOff: backoff.NewExponentialBackOff(), max: c.maxInterval}
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = c.initial, c.maxInterval, 0
	op := func() error {
		res.Attempts++
		var h http.Header
		res.StatusCode, res.Body, h, last = c.attempt(ctx, u, body, timeout, hook.DisableTLS)
		switch {
		case last != nil:
			if ctx.Err() != nil || !retriable(last) {
				return canary.Permanent(last)
			}
			return last
		case res.StatusCode >= 200 && res.StatusCode <= 202:
			return nil
		}
		last = ErrStatus
		// as go-retryablehttp (Flagger's client) has it: 429 and 5xx may go away, but not 501
		if res.StatusCode == http.StatusTooManyRequests || (res.StatusCode >= 500 && res.StatusCode != http.StatusNotImplemented) {
			if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
				// as go-retryablehttp (Flagger's client) does: wait as long as the receiver asks
				b.hint, _ = httpx.RetryAfter(h, c.clock.Now())
			}
			return last
		}
		return canary.Permanent(last)
	}
	retries := uint64(min(max(hook.Retries, 0), canary.MaxHookRetries))
	notify := func(err error, wait time.Duration) {
		c.log.V(1).Info("webhook attempt failed; retrying", "hook", hook.Name, "url", where,
			"attempt", res.Attempts, "status", res.StatusCode, "wait", wait, "error", err.Error())
	}
	_ = backoff.RetryNotify(op, backoff.WithContext(backoff.WithMaxRetries(b, retries), ctx), notify)
	if last == nil {
		return res, nil
	}
	return res, fail(last)
}

// hintedBackOff is an exponential backoff whose next pause is at least hint (a Retry-After),
// bounded by max.
type hintedBackOff struct {
	*backoff.ExponentialBackOff
	hint, max time.Duration
}

func (b *hintedBackOff) NextBackOff() time.Duration {
	d := b.ExponentialBackOff.NextBackOff()
	if d != backoff.Stop && b.hint > d {
		d = min(b.hint, max(b.max, d))
	}
	b.hint = 0
	return d
}

// attempt makes one request; it returns the status, a body excerpt and the header, or a
// transport error. With insecure (the hook's disableTLS), the server's certificate is not
// verified.
func (c *Client) attempt(ctx context.Context, u *url.URL, body []byte, timeout time.Duration, insecure bool) (int, string, http.Header, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := http.Header{}
	if c.headerFor(u) {
		h = c.header.Clone()
	}
	h.Set("User-Agent", c.userAgent)
	if len(c.key) > 0 {
		SignHeaders(h, c.key, c.clock.Now(), body)
	}
	hc := c.http
	if insecure {
		hc = c.insecure
	}
	r, err := httpx.Post(actx, hc, u.String(), h, body)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no response within the hook timeout %s: %w", timeout, err)
	}
	return r.StatusCode, r.Excerpt, r.Header, err
}

// retriable reports whether a transport error may go away on its own: not a certificate the
// client refuses, nor a redirect it refuses or a redirect loop.
func retriable(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return !errors.As(err, &verr) && !errors.As(err, &uerr) && !errors.As(err, &herr) && !errors.As(err, &cerr) &&
		!errors.Is(err, ErrRedirect) && !errors.Is(err, httpx.ErrTooManyRedirects)
}

// headerFor reports whether Options.Header goes to u: its host is one of HeaderHosts.
func (c *Client) headerFor(u *url.URL) bool {
	name, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, h := range c.headerHosts {
		if h.name == name && (h.port == "" || h.port == port) {
			return true
		}
	}
	return false
}

// hostPort is one of Options.HeaderHosts: a lowercase host name or address, and a port or ""
// for any.
type hostPort struct{ name, port string }

func hookURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no URL", ErrInvalidHook)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL must be an absolute http(s) URL", ErrInvalidHook)
	}
	return u, nil
}

// problems collects configuration problems to report at once.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(p, "; "))
}
