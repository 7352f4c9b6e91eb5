package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/internal/httpx"
)

// Defaults of Config: the podinfo demo's load test, `hey -q 10 -c 2`, at its total rate.
const (
	DefaultRate           = 20 // requests per second, all workers together
	DefaultConcurrency    = 2
	DefaultDuration       = time.Minute
	DefaultRequestTimeout = 5 * time.Second
	DefaultMinRequests    = 20
	// MaxRate bounds Rate.
	MaxRate = 10000
	// MaxConcurrency bounds Concurrency: each worker is a goroutine and may hold a connection.
	MaxConcurrency = 1000
	// MaxRedirects is how many redirects to the URL's own scheme, host and port a request
	// follows: as many as hey (Go's default client) follows.
	MaxRedirects = 10
)

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidConfig: New refused its Config.
	ErrInvalidConfig = errors.New("invalid load generator config")
	// ErrTooManyErrors: more requests failed than MaxErrorRatio allows.
	ErrTooManyErrors = errors.New("too many failed requests")
)

// Config configures a Generator. Zero fields mean "default"; New reports every problem.
type Config struct {
	// URL receives the load, e.g. "http://podinfo-canary.test:9898/". Required.
	URL string
	// Method, Header and Body make the request. Default GET without a body. The method and
	// the header names must be HTTP tokens, and the header values hold no control character but
	// a tab (no CR or LF). A Host entry (one value, a host name or address with an optional
	// port) is the requests' Host, as hey's -host sets it; the connection still goes to URL's
	// host, and redirects are followed by URL's origin, not the Host's.
	Method string
	Header http.Header
	Body   []byte
	// Rate is the number of requests per second of all workers together. Default 20. (hey's
	// -q is per worker: `-q 10 -c 2` is Rate 20, Concurrency 2.)
	Rate float64
	// Concurrency is the number of workers, hence the most requests in flight. Default 2, at
	// most MaxConcurrency.
	Concurrency int
	// Duration bounds a run. Default 1m.
	Duration time.Duration
	// MaxRequests bounds a run's requests. Default Rate × Duration.
	MaxRequests int
	// RequestTimeout bounds each request. Default 5s.
	RequestTimeout time.Duration
	// MaxErrorRatio, if above 0, fails a call when more than this share (0..1) of the requests
	// completed since the previous call failed.
	MaxErrorRatio float64
	// MinRequests is the fewest completed requests MaxErrorRatio judges. Default 20.
	MinRequests int
	// NoRedirects follows no redirect at all (hey's -disable-redirects): every 3xx is the
	// answer, counted in Stats.Unfollowed.
	NoRedirects bool
	// Client sends the requests. Default: a client of its own. The Generator uses a copy whose
	// CheckRedirect is its own (see the package doc: redirects).
	Client *http.Client
	// Logger receives runs starting and ending. Default: discard.
	Logger logr.Logger
}

// Stats counts a Generator's work.
type Stats struct {
	// Runs counts runs started; Running reports whether one is under way.
	Runs    int
	Running bool
	// Requests counts completed requests; Errors those that failed.
	Requests uint64
	Errors   uint64
	// Unfollowed counts the answers that were redirects the Generator did not follow (to
	// another scheme, host or port, or past MaxRedirects): their 3xx is the request's answer.
	Unfollowed uint64
	// LastError describes the last failure.
	LastError string
}

// Generator drives bounded load against a URL. Safe for concurrent use.
type Generator struct {
	cfg   Config
	where string
	host  string        // the requests' Host, from Config.Header; "" for URL's
	every time.Duration // between requests

	requests, errs, unfollowed atomic.Uint64

	mu        sync.Mutex
	runs      int
	running   bool
	cancel    context.CancelFunc
	done      chan struct{}
	lastError string
	// seen is what the previous call had seen, for the error window.
	seenRequests, seenErrors uint64
}

var _ canary.Gate = (*Generator)(nil)

// New validates cfg and returns a Generator. It sends nothing until asked.
func New(cfg Config) (*Generator, error) {
	var p []string
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p = append(p, "URL: must be an absolute http(s) URL")
	}
	if cfg.Rate < 0 || cfg.Rate > MaxRate || math.IsNaN(cfg.Rate) {
		p = append(p, fmt.Sprintf("Rate: must be 0..%d, got %v", MaxRate, cfg.Rate))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"Concurrency", int64(cfg.Concurrency)}, {"Duration", int64(cfg.Duration)}, {"MaxRequests", int64(cfg.MaxRequests)},
		{"RequestTimeout", int64(cfg.RequestTimeout)}, {"MinRequests", int64(cfg.MinRequests)}} {
		if f.v < 0 {
			p = append(p, f.name+": must not be negative")
		}
	}
	if cfg.Concurrency > MaxConcurrency {
		p = append(p, fmt.Sprintf("Concurrency: must be at most %d, got %d", MaxConcurrency, cfg.Concurrency))
	}
	if cfg.MaxErrorRatio < 0 || cfg.MaxErrorRatio > 1 || math.IsNaN(cfg.MaxErrorRatio) {
		p = append(p, fmt.Sprintf("MaxErrorRatio: must be 0..1, got %v", cfg.MaxErrorRatio))
	}
	if cfg.Method != "" && !canary.IsHeaderName(cfg.Method) {
		p = append(p, fmt.Sprintf("Method: must be an HTTP token, got %q", cfg.Method))
	}
	for _, fe := range canary.HeaderProblems("Header", cfg.Header) {
		p = append(p, fe.Error())
	}
	var hostKeys []string // the keys that name the Host: "Host", "host", …
	for _, k := range slices.Sorted(maps.Keys(cfg.Header)) {
		if http.CanonicalHeaderKey(k) == "Host" {
			hostKeys = append(hostKeys, fmt.Sprintf("%q", k))
			if hs := cfg.Header[k]; len(hs) != 1 || !validHost(hs[0]) {
				p = append(p, fmt.Sprintf("Header[%q]: want one host name or address, with an optional port", k))
			}
		}
	}
	if len(hostKeys) > 1 {
		// each holds one value, and which one is the Host would depend on the map's order
		p = append(p, fmt.Sprintf("Header: %s are one header, the requests' Host: give it once", strings.Join(hostKeys, " and ")))
	}
	if len(p) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(p, "; "))
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = max(1, int(math.Ceil(cfg.Rate*cfg.Duration.Seconds())))
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MinRequests == 0 {
		cfg.MinRequests = DefaultMinRequests
	}
	if cfg.Client == nil {
		tr := httpx.NewTransport()
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		cfg.Client = &http.Client{Transport: tr}
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard()
	}
	g := &Generator{cfg: cfg, where: httpx.SafeURL(u), every: interval(cfg.Rate)}
	g.cfg.Header, g.cfg.Body = http.Header{}, bytes.Clone(cfg.Body)
	for k, vs := range cfg.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			g.host = vs[0] // Go sends req.Host, never a Host entry of the header
			continue
		}
		g.cfg.Header[k] = slices.Clone(vs)
	}
	// a copy: the caller's client keeps its own redirect policy
	c := *cfg.Client
	c.CheckRedirect = g.checkRedirect
	g.cfg.Client = &c
	return g, nil
}

// checkRedirect follows a redirect only to the scheme, host and port of the request's URL,
// MaxRedirects times at most. Go's default policy carries every header to the new location
// but Authorization and cookies, and those too to the same host name on another port or to a
// subdomain; a redirect elsewhere would also point the load at a host the Config does not
// name. A redirect not followed is no failure: its 3xx is the answer, as for
// `hey -disable-redirects` or curl without -L.
func (g *Generator) checkRedirect(req *http.Request, via []*http.Request) error {
	if g.cfg.NoRedirects || len(via) > MaxRedirects || origin(req.URL) != origin(via[0].URL) {
		g.unfollowed.Add(1)
		return http.ErrUseLastResponse
	}
	return nil
}

// origin is u's scheme, host name (in lower case) and port, the scheme's default port if u
// names none.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Hooks returns the generator as a pre-rollout and a rollout hook named name, for
// canary.Config.Gates: starting at pre-rollout gives the first metric checks traffic to
// measure (the rollout hooks run from the second tick).
func (g *Generator) Hooks(name string) []canary.Hook {
	return []canary.Hook{
		{Name: name, Type: canary.HookPreRollout, Gate: g},
		{Name: name, Type: canary.HookRollout, Gate: g},
	}
}

// Allow judges the requests completed since the previous call (with MaxErrorRatio), starts a
// run unless one is under way, and returns at once.
func (g *Generator) Allow(_ context.Context, _ canary.GateRequest) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	reqs, errs := g.requests.Load(), g.errs.Load()
	n, failed := reqs-g.seenRequests, errs-g.seenErrors
	g.seenRequests, g.seenErrors = reqs, errs
	if !g.running {
		g.start()
	}
	if g.cfg.MaxErrorRatio > 0 && n >= uint64(g.cfg.MinRequests) && float64(failed) > g.cfg.MaxErrorRatio*float64(n) {
		return false, fmt.Errorf("%w: %d of %d requests to %s failed (%.0f%%, more than %.0f%%); last: %s", ErrTooManyErrors,
			failed, n, g.where, 100*float64(failed)/float64(n), 100*g.cfg.MaxErrorRatio, g.lastError)
	}
	return true, nil
}

// start begins a run; g.mu is held.
func (g *Generator) start() {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Duration)
	g.runs++
	g.running, g.cancel, g.done = true, cancel, make(chan struct{})
	g.cfg.Logger.Info("load run started", "url", g.where, "run", g.runs, "rate", g.cfg.Rate,
		"concurrency", g.cfg.Concurrency, "duration", g.cfg.Duration, "maxRequests", g.cfg.MaxRequests)
	go g.run(ctx, cancel, g.done)
}

// run paces requests to the workers until the run's time or request budget is spent.
func (g *Generator) run(ctx context.Context, cancel context.CancelFunc, done chan struct{}) {
	defer close(done)
	defer cancel()
	before := g.requests.Load()
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range g.cfg.Concurrency {
		wg.Go(func() {
			for range work {
				g.one(ctx)
			}
		})
	}
	tick := time.NewTicker(g.every)
	defer tick.Stop()
	// The first request goes at once, the rest at Rate.
	for sent := 0; sent < g.cfg.MaxRequests; sent++ {
		if sent > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case work <- struct{}{}:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	g.mu.Lock()
	g.running = false
	g.mu.Unlock()
	g.cfg.Logger.Info("load run ended", "url", g.where, "requests", g.requests.Load()-before)
}

// one sends one request and counts its outcome. A request cut short by the end of the run is
// not counted.
func (g *Generator) one(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, g.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, g.cfg.Method, g.cfg.URL, bytes.NewReader(g.cfg.Body))
	if err != nil {
		g.fail(err.Error())
		return
	}
	for k, vs := range g.cfg.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if g.host != "" {
		req.Host = g.host
	}
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		g.fail(err.Error())
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		g.fail(fmt.Sprintf("status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
		return
	}
	g.requests.Add(1)
}

// fail counts a failed request. why comes from the answer as much as from the Generator (a
// Location header or a status line quoted in a transport error runs to megabytes): it is cut to
// httpx.ExcerptLimit bytes, for Stats and the error Allow returns.
func (g *Generator) fail(why string) {
	why = httpx.Excerpt([]byte(why), 0)
	g.mu.Lock()
	g.lastError = why
	g.mu.Unlock()
	g.errs.Add(1)
	g.requests.Add(1)
}

// Wait blocks until the run under way (if any) ends, or ctx ends.
func (g *Generator) Wait(ctx context.Context) error {
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the run under way, if any, and waits for its requests to finish.
func (g *Generator) Stop() {
	g.mu.Lock()
	cancel, done := g.cancel, g.done
	g.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Stats returns the counts so far.
func (g *Generator) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{Runs: g.runs, Running: g.running, Requests: g.requests.Load(), Errors: g.errs.Load(),
		Unfollowed: g.unfollowed.Load(), LastError: g.lastError}
}

// maxInterval bounds the interval between requests: about 146 years, longer than any run.
const maxInterval = time.Duration(1 << 62)

// interval is the time between requests at rate (positive) per second. A rate so low that the
// interval would overflow a Duration (below about one request in 292 years), which converts to
// a negative one and makes time.NewTicker panic, gets maxInterval: one request per run.
func interval(rate float64) time.Duration {
	if d := float64(time.Second) / rate; d < float64(maxInterval) {
		return max(time.Duration(d), 1)
	}
	return maxInterval
}

// validHost reports whether h is a host name, an IPv4 address or a bracketed IPv6 address,
// with an optional port: what a Host header may carry (RFC 9110 section 7.2), no user
// information, path or space.
func validHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	host, port := h, ""
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		host, port = h[:i], h[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if strings.HasPrefix(host, "[") {
		ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
		return strings.HasSuffix(host, "]") && err == nil && ip.Is6()
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, c := range []byte(host) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
