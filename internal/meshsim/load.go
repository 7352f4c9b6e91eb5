package meshsim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook/loadgen"
)

// Load is a bounded run of requests through the mesh: webhook/loadgen's generator with the
// mesh as its transport, counting answers by status code.
type Load struct {
	gen      *loadgen.Generator
	statuses *statusCounter
}

// LoadResult counts a Load's requests.
type LoadResult struct {
	// Requests counts completed requests and Errors those that failed (5xx, or no answer);
	// requests cut short by the end of the run are not counted.
	Requests, Errors uint64
	// Statuses counts answers by status code; Requests minus their sum got no answer.
	Statuses map[int]uint64
	// LastError describes the last failure.
	LastError string
}

// StartLoad starts sending requests through the mesh as cfg says (cfg.Client is replaced:
// the mesh sends them): Rate requests per second from Concurrency workers until Duration has
// passed or MaxRequests were sent (see loadgen.Config for the defaults). It returns at once;
// Wait or Stop end it, and so does Close.
func (m *Mesh) StartLoad(cfg loadgen.Config) (*Load, error) { return m.startLoad(cfg, m) }

// StartLoad is Mesh.StartLoad through the ingress: requests to the ingress's hosts, as a
// browser outside the cluster sends them.
func (in *Ingress) StartLoad(cfg loadgen.Config) (*Load, error) { return in.m.startLoad(cfg, in) }

func (m *Mesh) startLoad(cfg loadgen.Config, next http.RoundTripper) (*Load, error) {
	sc := &statusCounter{next: next, counts: map[int]uint64{}}
	cfg.Client = &http.Client{Transport: sc}
	gen, err := loadgen.New(cfg)
	if err != nil {
		return nil, err
	}
	l := &Load{gen: gen, statuses: sc}
	m.serversMu.Lock()
	defer m.serversMu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	m.loads = append(m.loads, l)
	// A loadgen run starts at a gate call; no rollout is involved here.
	if _, err := gen.Allow(context.Background(), canary.GateRequest{}); err != nil {
		return nil, err
	}
	return l, nil
}

// Wait blocks until the run ends (its bounds are reached) or ctx ends, and returns the counts.
func (l *Load) Wait(ctx context.Context) (LoadResult, error) {
	err := l.gen.Wait(ctx)
	return l.Result(), err
}

// Stop ends the run, waits for its requests in flight, and returns the counts.
func (l *Load) Stop() LoadResult {
	l.gen.Stop()
	return l.Result()
}

// Result returns the counts so far.
func (l *Load) Result() LoadResult {
	st := l.gen.Stats()
	return LoadResult{Requests: st.Requests, Errors: st.Errors, Statuses: l.statuses.snapshot(), LastError: st.LastError}
}

// statusCounter counts the answers a transport returns, by status code.
type statusCounter struct {
	next   http.RoundTripper
	mu     sync.Mutex
	counts map[int]uint64
}

func (s *statusCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err == nil {
		s.mu.Lock()
		s.counts[resp.StatusCode]++
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusCounter) snapshot() map[int]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.counts)
}

// heyNoDuration bounds a hey run given by request count (-n) alone, which hey does not bound
// in time.
const heyNoDuration = 10 * time.Minute

// ParseHey reads a hey command line, such as the demo manifests'
// "hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/", into a load configuration with
// hey's meaning and defaults: -c workers (50); -q requests per second per worker (0: as fast
// as possible, i.e. loadgen.MaxRate), so Rate = q × c; -z duration, or else -n requests in
// all (200, rounded down to a multiple of -c as hey does; bounded by 10 minutes); -m method;
// -d body; -H header (repeatable), -A accept, -T content type (text/html), -a user:password;
// -t request timeout in seconds (20); -host the requests' Host; -disable-redirects follows no
// redirect. -h2, -disable-compression, -disable-keepalive and -cpus are accepted and ignored;
// -D, -x and -o are not supported.
func ParseHey(cmdline string) (loadgen.Config, error) {
	args, err := splitWords(cmdline)
	if err != nil {
		return loadgen.Config{}, err
	}
	if len(args) == 0 || args[0] != "hey" {
		return loadgen.Config{}, fmt.Errorf("not a hey command: %q", cmdline)
	}
	return parseHeyArgs(args[1:])
}

// headerFlags collects repeated -H values.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func parseHeyArgs(args []string) (loadgen.Config, error) {
	fs := flag.NewFlagSet("hey", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("n", 200, "")
	c := fs.Int("c", 50, "")
	q := fs.Float64("q", 0, "")
	z := fs.Duration("z", 0, "")
	method := fs.String("m", http.MethodGet, "")
	body := fs.String("d", "", "")
	accept := fs.String("A", "", "")
	contentType := fs.String("T", "text/html", "")
	auth := fs.String("a", "", "")
	timeout := fs.Int("t", 20, "")
	var headers headerFlags
	fs.Var(&headers, "H", "")
	host := fs.String("host", "", "")
	noRedirects := fs.Bool("disable-redirects", false, "")
	for _, name := range []string{"h2", "disable-compression", "disable-keepalive"} {
		fs.Bool(name, false, "")
	}
	fs.Int("cpus", 0, "")
	if err := fs.Parse(args); err != nil {
		return loadgen.Config{}, fmt.Errorf("hey: %w", err)
	}
	if fs.NArg() != 1 {
		return loadgen.Config{}, fmt.Errorf("hey: want one URL, got %q", fs.Args())
	}
	if *c < 1 || *n < 1 || *q < 0 || *z < 0 || *timeout < 0 {
		return loadgen.Config{}, fmt.Errorf("hey: -c, -n must be positive; -q, -z, -t not negative")
	}
	cfg := loadgen.Config{
		URL: fs.Arg(0), Method: strings.ToUpper(*method), Concurrency: *c,
		Rate: math.Min(*q*float64(*c), loadgen.MaxRate), Header: http.Header{},
		RequestTimeout: time.Duration(*timeout) * time.Second, NoRedirects: *noRedirects,
	}
	if *q == 0 {
		cfg.Rate = loadgen.MaxRate
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = heyNoDuration
	}
	if *z > 0 {
		cfg.Duration = *z
	} else {
		if *n < *c {
			return loadgen.Config{}, fmt.Errorf("hey: -n cannot be less than -c")
		}
		cfg.Duration, cfg.MaxRequests = heyNoDuration, *n / *c * *c
	}
	if *body != "" {
		cfg.Body = []byte(*body)
	}
	cfg.Header.Set("Content-Type", *contentType)
	if *accept != "" {
		cfg.Header.Set("Accept", *accept)
	}
	if *auth != "" {
		user, pass, _ := strings.Cut(*auth, ":")
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(user, pass)
		cfg.Header.Set("Authorization", r.Header.Get("Authorization"))
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return loadgen.Config{}, fmt.Errorf("hey: -H %q: want \"Name: value\"", h)
		}
		cfg.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if *host != "" {
		cfg.Header.Set("Host", *host) // the requests' Host (loadgen.Config.Header)
	}
	return cfg, nil
}
