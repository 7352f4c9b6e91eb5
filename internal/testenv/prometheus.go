package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
)

// PrometheusOptions configure NewPrometheus. Zero fields mean defaults.
type PrometheusOptions struct {
	// Targets are scraped: "host:port" (path /metrics) or a URL "http://host:port/path".
	Targets []string
	// ScrapeInterval defaults to 1 s (and is the scrape timeout too).
	ScrapeInterval time.Duration
	// QueryLog makes Prometheus log every query it runs (see QueryMark and QueriesSince).
	QueryLog bool
	// Logger receives progress messages; zero discards them.
	Logger logr.Logger
}

// Prometheus is a running Prometheus server on a free loopback port with its data in a
// temporary directory.
type Prometheus struct {
	// URL is the base URL of the HTTP API, e.g. http://127.0.0.1:40123; queries go to
	// URL + "/api/v1/query".
	URL string

	path, dir, configPath, queryLog string
	port                            int
	log                             logr.Logger
	client                          *http.Client

	mu      sync.Mutex
	proc    *process
	started time.Time
}

// StartPrometheus starts a Prometheus for one test that scrapes targets every second, with the
// query log on, and stops it when the test ends. It skips the test when prometheus is not
// installed (fails it when CI=true). Prefer SharedPrometheus: the first scrape comes ~5 s after
// start, a cost better paid once per test binary.
func StartPrometheus(t testing.TB, targets ...string) *Prometheus {
	t.Helper()
	requireBinaries(t, binPrometheus)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	p, err := NewPrometheus(ctx, PrometheusOptions{Targets: targets, QueryLog: true, Logger: testr.NewWithInterface(t, testr.Options{})})
	if err != nil {
		t.Fatalf("start Prometheus: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// NewPrometheus starts a Prometheus and waits until it is ready. The caller must Stop it.
func NewPrometheus(ctx context.Context, opts PrometheusOptions) (*Prometheus, error) {
	path, err := lookPath(binPrometheus)
	if err != nil {
		return nil, fmt.Errorf("%w; run `%s`", err, InstallCommand)
	}
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = time.Second
	}
	p := &Prometheus{path: path, log: opts.Logger, client: &http.Client{Timeout: 10 * time.Second}}
	if p.log.GetSink() == nil {
		p.log = logr.Discard()
	}
	if p.dir, err = tempDir(os.TempDir(), "prometheus"); err != nil {
		return nil, err
	}
	if opts.QueryLog {
		p.queryLog = filepath.Join(p.dir, "query.log")
	}
	cfg, err := prometheusConfig(opts.Targets, opts.ScrapeInterval, p.queryLog)
	if err != nil {
		p.Stop()
		return nil, err
	}
	p.configPath = filepath.Join(p.dir, "prometheus.yml")
	if err := os.WriteFile(p.configPath, []byte(cfg), 0o600); err != nil {
		p.Stop()
		return nil, fmt.Errorf("write Prometheus config: %w", err)
	}
	for attempt := 1; ; attempt++ {
		if p.port, err = freePort(); err == nil {
			err = p.start(ctx)
		}
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		p.Stop()
		return nil, err
	}
	p.URL = "http://" + hostPort(p.port)
	p.log.Info("Prometheus ready", "url", p.URL, "dir", p.dir)
	return p, nil
}

// prometheusConfig renders a config with one scrape job per target.
func prometheusConfig(targets []string, interval time.Duration, queryLog string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		interval, interval, interval)
	if queryLog != "" {
		fmt.Fprintf(&b, "  query_log_file: %q\n", queryLog)
	}
	b.WriteString("scrape_configs:\n")
	for i, target := range targets {
		hostport, path := target, "/metrics"
		if strings.Contains(target, "://") {
			u, err := url.Parse(target)
			if err != nil || u.Host == "" {
				return "", fmt.Errorf("scrape target %q: not host:port or a URL", target)
			}
			if u.Scheme != "http" {
				return "", fmt.Errorf("scrape target %q: only http is supported", target)
			}
			hostport = u.Host
			if u.Path != "" {
				path = u.Path
			}
		}
		fmt.Fprintf(&b, "- job_name: target-%d\n  metrics_path: %q\n  static_configs:\n  - targets: [%q]\n",
			i, path, hostport)
	}
	return b.String(), nil
}

// start runs the process on p.port and waits for /-/ready.
func (p *Prometheus) start(ctx context.Context) error {
	started := time.Now()
	proc, err := startProcess(binPrometheus, filepath.Join(p.dir, "prometheus.log"), p.path,
		"--config.file="+p.configPath,
		"--web.listen-address="+hostPort(p.port),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.enable-lifecycle",
		"--log.level=warn",
	)
	if err != nil {
		return err
	}
	readyURL := "http://" + hostPort(p.port) + "/-/ready"
	err = waitUntil(ctx, proc, "wait for Prometheus", func(ctx context.Context) error {
		return httpGetOK(ctx, p.client, readyURL, "", "")
	})
	if err != nil {
		proc.stop(0)
		return err
	}
	p.mu.Lock()
	p.proc, p.started = proc, started
	p.mu.Unlock()
	return nil
}

// Started is when the running server process was started (its first scrape comes about 5 s
// later).
func (p *Prometheus) Started() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Stop stops the server and removes its files. Call Restart instead to bring it back.
func (p *Prometheus) Stop() {
	p.Kill()
	if p.dir != "" {
		if err := os.RemoveAll(p.dir); err != nil {
			p.log.Error(err, "remove Prometheus dir", "dir", p.dir)
		}
	}
}

// Kill stops the server but keeps its data, so that Restart brings it back with its series:
// tests use it to make Prometheus unavailable for a while.
func (p *Prometheus) Kill() {
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.mu.Unlock()
	proc.stop(stopGrace)
}

// Restart starts a killed server again on the same port, with the same config and data.
func (p *Prometheus) Restart(t testing.TB) {
	t.Helper()
	p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.start(ctx); err != nil {
		t.Fatalf("restart Prometheus: %v", err)
	}
}

// ErrNoData is returned when a query has no result, or only NaN (what a ratio of rates gives
// for a target without traffic: Prometheus answers "NaN", which strconv.ParseFloat accepts).
var ErrNoData = errors.New("no data")

// WaitForSeries polls query until its result has at least one sample that is not NaN, and
// returns the samples. It fails the test if none comes within a minute.
func (p *Prometheus) WaitForSeries(t testing.TB, query string) []Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var samples []Sample
	var last error
	err := poll(ctx, func(ctx context.Context) (bool, error) {
		samples, last = p.Query(ctx, query)
		if last != nil {
			return false, nil // not up yet, or restarting: keep polling
		}
		for _, s := range samples {
			if !s.IsNaN() {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("wait for a sample of %s: %v (last error: %v, last result: %v)", query, err, last, samples)
	}
	return samples
}

// WaitForValue polls query until it yields a single number that is not NaN and returns it.
func (p *Prometheus) WaitForValue(t testing.TB, query string) float64 {
	t.Helper()
	samples := p.WaitForSeries(t, query)
	if len(samples) != 1 {
		t.Fatalf("query %s: want one sample, got %d: %v", query, len(samples), samples)
	}
	return samples[0].Value
}

// QueryValue runs an instant query that yields one number. It returns ErrNoData when the
// result is empty or NaN, and an error when it has more than one sample.
func (p *Prometheus) QueryValue(ctx context.Context, query string) (float64, error) {
	samples, err := p.Query(ctx, query)
	if err != nil {
		return 0, err
	}
	switch {
	case len(samples) == 0:
		return 0, fmt.Errorf("query %s: %w", query, ErrNoData)
	case len(samples) > 1:
		return 0, fmt.Errorf("query %s: want one sample, got %d", query, len(samples))
	case samples[0].IsNaN():
		return 0, fmt.Errorf("query %s: NaN: %w", query, ErrNoData)
	}
	return samples[0].Value, nil
}
