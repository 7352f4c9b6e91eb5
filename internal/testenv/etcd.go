package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// pollInterval is how often the bed re-checks a condition it waits for.
const pollInterval = 50 * time.Millisecond

// waitUntil calls cond until it returns nil, ctx ends, or p exits; the error then carries the
// last failure and the tail of p's log.
func waitUntil(ctx context.Context, p *process, what string, cond func(context.Context) error) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		last := cond(ctx)
		if last == nil {
			return nil
		}
		if exited, err := p.exited(); exited {
			return fmt.Errorf("%s: %w: %w\n%s", what, errStopped, err, p.logTail(30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)\n%s", what, ctx.Err(), last, p.logTail(30))
		case <-tick.C:
		}
	}
}

// httpGetOK returns nil when GET url answers 200 and the body contains want.
func httpGetOK(ctx context.Context, c *http.Client, url, bearer, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: body %q lacks %q", url, body, want)
	}
	return nil
}

// startEtcd runs a single-member etcd with its data in dataDir, listening on the given ports.
func startEtcd(ctx context.Context, path, dataDir, logDir string, clientPort, peerPort int) (*process, string, error) {
	clientURL := "http://" + hostPort(clientPort)
	peerURL := "http://" + hostPort(peerPort)
	p, err := startProcess(binEtcd, filepath.Join(logDir, "etcd.log"), path,
		"--name=testenv",
		"--data-dir="+dataDir,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testenv="+peerURL,
		"--initial-cluster-state=new",
		"--logger=zap",
		"--log-level=warn",
	)
	if err != nil {
		return nil, "", err
	}
	c := &http.Client{Timeout: 2 * time.Second}
	err = waitUntil(ctx, p, "wait for etcd", func(ctx context.Context) error {
		return httpGetOK(ctx, c, clientURL+"/health", "", `"true"`)
	})
	if err != nil {
		p.stop(0)
		return nil, "", err
	}
	return p, clientURL, nil
}
