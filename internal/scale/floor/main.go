// Command floor is the scale harness's lower bound (internal/scale, -tool=floor): the least
// a controller must do for the steps of a Linkerd canary that Flagger's users can watch,
// written on net/http alone, with nothing between it and the wire. It is not a controller
// anyone should run; it shows what a step costs on the machine before any library's choice.
//
// For every Canary of --namespace it finds at its start it creates the SMI TrafficSplit
// (v1alpha2) and marks the Canary Initialized. It then holds two watches, both decoded into
// the few fields it reads: the Canaries (a controller must see their edits; it reads only
// their names) and the Deployments' metadata alone (as=PartialObjectMetadata: a target's
// release starts when its generation passes the one it had at the start, once). A release is
// the steps Flagger's users see with stepWeight 10 and maxWeight 50: the Canary's status
// Progressing, then one tick each --interval at a fixed rate from the release's start, each
// tick the two built-in Linkerd queries of the target (rendered once at the start, their
// answers decoded for the value) and, for weights 10 to 50, the TrafficSplit's weights and the
// Canary's canaryWeight; the sixth tick's queries are followed by Promoting, the TrafficSplit
// back to the primary and Succeeded. So a release makes 6 route writes, 8 status writes and 12
// queries, the writes a controller that Flagger's users can watch cannot drop; every write is a
// JSON merge patch whose answer is read and thrown away (no conditional write, no cache of
// the objects). The outcome of a query is not acted on: the release goes on whatever the value,
// as the bed's traffic passes every check.
//
// With --events it also writes the Events Flagger records on a release's Canary, ten a
// release, each created by the release's goroutine after the step's writes: "New revision
// detected!" and "Starting canary analysis" at the start, "Advance … canary weight N" at each
// weight, and "Copying … template spec", "Routing all traffic to primary" and "Promotion
// completed!" with the promotion (reason Synced, type Normal, as client-go's recorder writes a
// new Event).
//
// Its Prometheus answers come uncompressed, as canarykit's provider asks for them; the harness
// starts it with GODEBUG=gcshrinkstackoff=1, so that a release's goroutine, waiting between
// ticks, keeps the stack its requests grew.
//
// Each request's user agent starts with "canarykit-floor/", which the harness counts by.
// Errors are logged to stderr, the first 20 in full and then every 1000th; --pprof-addr serves
// /debug/pprof for the harness's profiles. Its Go code runs on one thread (--gomaxprocs, as the
// controller's by default; a GOMAXPROCS variable is kept unless the flag is given).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" //nolint:gosec // served only on --pprof-addr, a loopback address in the harness
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/metrics"
)

// agent is the start of every request's user agent.
const agent = "canarykit-floor/1"

const (
	stepWeight = 10
	maxWeight  = 50
	// maxBody bounds what is read of an answer that is decoded (a list, a query's answer).
	maxBody = 64 << 20
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "the API server and credentials")
	namespace := flag.String("namespace", "", "the Canaries' namespace")
	prom := flag.String("prometheus", "", "the Prometheus server's address")
	interval := flag.Duration("interval", 10*time.Second, "the time between a release's ticks")
	procs := flag.Int("gomaxprocs", 1, "runtime.GOMAXPROCS (1: as canarykit's controller by default; 0 keeps Go's default); a GOMAXPROCS variable is kept unless this flag is given")
	pprofAddr := flag.String("pprof-addr", "", "serve /debug/pprof on this address")
	events := flag.Bool("events", false, "write the ten Events Flagger records on a release's Canary")
	flag.Parse()
	if *namespace == "" || *prom == "" {
		log.Fatal("--namespace and --prometheus are required")
	}
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "gomaxprocs" })
	if *procs > 0 && (explicit || os.Getenv("GOMAXPROCS") == "") {
		runtime.GOMAXPROCS(*procs)
	}
	if *pprofAddr != "" {
		go func() { log.Print(http.ListenAndServe(*pprofAddr, nil)) }() //nolint:gosec // a profiling listener
	}
	f, err := newFloor(*kubeconfig, *namespace, *prom, *interval)
	if err != nil {
		log.Fatal(err)
	}
	f.events = *events
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := f.run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// floor holds the connections and the targets.
type floor struct {
	api      string // the API server's URL, no trailing slash
	token    string
	kube     *http.Client
	prom     *http.Client
	promURL  string
	ns       string
	interval time.Duration
	events   bool               // write a release's Events
	ended    func(*target)      // called as a release returns (tests); nil: nothing
	targets  map[string]*target // by name; set before the watches start, read-only after
	errs     atomic.Int64
}

// target is one Canary and its Deployment (the same name).
type target struct {
	name    string
	queries [2]string // the instant queries' URLs
	// generation is the Deployment's at the start; released is set once its release starts.
	// Both are the Deployment watch's alone.
	generation int64
	released   bool
}

func newFloor(kubeconfig, ns, prom string, interval time.Duration) (*floor, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	kube := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true, DialContext: dialer.DialContext,
		MaxIdleConnsPerHost: 100, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	promTransport := &http.Transport{DialContext: dialer.DialContext, MaxConnsPerHost: 32, MaxIdleConnsPerHost: 32,
		IdleConnTimeout: 90 * time.Second}
	u, err := url.Parse(prom)
	if err != nil {
		return nil, fmt.Errorf("--prometheus: %w", err)
	}
	u.Path = "/api/v1/query"
	return &floor{api: cfg.Host, token: cfg.BearerToken, kube: &http.Client{Transport: kube},
		prom: &http.Client{Transport: promTransport, Timeout: 30 * time.Second}, promURL: u.String(),
		ns: ns, interval: interval}, nil
}

// run initializes every Canary of the namespace, then watches until ctx ends.
func (f *floor) run(ctx context.Context) error {
	var canaries objectList
	if err := f.get(ctx, f.path("flagger.app/v1beta1", "canaries", ""), "application/json", &canaries); err != nil {
		return fmt.Errorf("list the Canaries: %w", err)
	}
	f.targets = map[string]*target{}
	for _, c := range canaries.Items {
		t := &target{name: c.Metadata.Name}
		for i, text := range []string{metrics.Linkerd()[metrics.RequestSuccessRate], metrics.Linkerd()[metrics.RequestDuration]} {
			q, err := canary.RenderQuery(text, canary.QueryVars{Name: t.name, Namespace: f.ns, Target: t.name, Interval: "1m"})
			if err != nil {
				return err
			}
			t.queries[i] = f.promURL + "?" + url.Values{"query": {q}}.Encode()
		}
		f.targets[t.name] = t
	}
	work := make(chan *target)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				f.initialize(ctx, t)
			}
		}()
	}
	for _, t := range f.targets {
		work <- t
	}
	close(work)
	wg.Wait()
	log.Printf("%d Canaries initialized", len(f.targets))

	const meta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
	var deployments objectList
	if err := f.get(ctx, f.path("apps/v1", "deployments", ""), meta, &deployments); err != nil {
		return fmt.Errorf("list the Deployments: %w", err)
	}
	for _, d := range deployments.Items {
		if t := f.targets[d.Metadata.Name]; t != nil {
			t.generation = d.Metadata.Generation
		}
	}
	go f.watch(ctx, f.path("flagger.app/v1beta1", "canaries", ""), "application/json", canaries.Metadata.ResourceVersion,
		func(watchEvent) {})
	f.watch(ctx, f.path("apps/v1", "deployments", ""), "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
		deployments.Metadata.ResourceVersion, func(e watchEvent) {
			t := f.targets[e.Object.Metadata.Name]
			if t == nil || t.released || e.Object.Metadata.Generation <= t.generation {
				return
			}
			t.released = true
			go f.release(ctx, t)
		})
	return ctx.Err()
}

// initialize creates t's TrafficSplit (kept if it exists) and marks its Canary Initialized.
func (f *floor) initialize(ctx context.Context, t *target) {
	split := map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
		"metadata": map[string]any{"name": t.name},
		"spec":     map[string]any{"service": t.name, "backends": backends(t.name, 0)},
	}
	if err := f.write(ctx, http.MethodPost, f.path("split.smi-spec.io/v1alpha2", "trafficsplits", ""), "application/json", split); err != nil &&
		!errors.Is(err, errConflict) {
		f.fail("create the TrafficSplit %s: %v", t.name, err)
	}
	f.status(ctx, t, "Initialized", 0)
}

// release runs t's release: Progressing, a weight step each interval, the promotion.
func (f *floor) release(ctx context.Context, t *target) {
	if f.ended != nil {
		defer f.ended(t)
	}
	start := time.Now()
	f.status(ctx, t, "Progressing", 0)
	f.event(ctx, t, fmt.Sprintf("New revision detected! Scaling up %s.%s", t.name, f.ns))
	f.event(ctx, t, fmt.Sprintf("Starting canary analysis for %s.%s", t.name, f.ns))
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(time.Duration(tick) * f.interval))):
		}
		for _, q := range t.queries {
			f.query(ctx, q)
		}
		if w := tick * stepWeight; w <= maxWeight {
			f.route(ctx, t, w)
			f.status(ctx, t, "Progressing", w)
			f.event(ctx, t, fmt.Sprintf("Advance %s.%s canary weight %d", t.name, f.ns, w))
			continue
		}
		f.status(ctx, t, "Promoting", 0)
		f.event(ctx, t, fmt.Sprintf("Copying %s.%s template spec to %s-primary.%s", t.name, f.ns, t.name, f.ns))
		f.route(ctx, t, 0)
		f.event(ctx, t, "Routing all traffic to primary")
		f.status(ctx, t, "Succeeded", 0)
		f.event(ctx, t, fmt.Sprintf("Promotion completed! Scaling down %s.%s", t.name, f.ns))
		return
	}
}

// event creates a Normal Event with message on t's Canary, when the floor writes Events.
func (f *floor) event(ctx context.Context, t *target, message string) {
	if !f.events {
		return
	}
	now := time.Now()
	stamp := now.UTC().Format(time.RFC3339)
	ev := map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata":       map[string]any{"name": fmt.Sprintf("%s.%x", t.name, now.UnixNano()), "namespace": f.ns},
		"involvedObject": map[string]any{"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": t.name, "namespace": f.ns},
		"reason":         "Synced", "type": "Normal", "message": message, "count": 1,
		"firstTimestamp": stamp, "lastTimestamp": stamp, "source": map[string]any{"component": "canarykit-floor"},
	}
	if err := f.write(ctx, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(f.ns)+"/events", "application/json", ev); err != nil {
		f.fail("event on %s: %v", t.name, err)
	}
}

// backends are the TrafficSplit's backends with weight on the canary.
func backends(name string, weight int) []any {
	return []any{
		map[string]any{"service": name + "-primary", "weight": 100 - weight},
		map[string]any{"service": name + "-canary", "weight": weight},
	}
}

func (f *floor) route(ctx context.Context, t *target, weight int) {
	patch := map[string]any{"spec": map[string]any{"backends": backends(t.name, weight)}}
	if err := f.write(ctx, http.MethodPatch, f.path("split.smi-spec.io/v1alpha2", "trafficsplits", t.name), "application/merge-patch+json", patch); err != nil {
		f.fail("route %s to %d: %v", t.name, weight, err)
	}
}

func (f *floor) status(ctx context.Context, t *target, phase string, weight int) {
	patch := map[string]any{"status": map[string]any{"phase": phase, "canaryWeight": weight,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}
	if err := f.write(ctx, http.MethodPatch, f.path("flagger.app/v1beta1", "canaries", t.name)+"/status", "application/merge-patch+json", patch); err != nil {
		f.fail("status %s %s: %v", t.name, phase, err)
	}
}

// queryAnswer is what is read of a Prometheus instant query's answer.
type queryAnswer struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Value [2]json.RawMessage `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// query runs one instant query and decodes its value.
func (f *floor) query(ctx context.Context, u string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		f.fail("query: %v", err)
		return
	}
	req.Header.Set("User-Agent", agent)
	req.Header.Set("Accept-Encoding", "identity") // a small answer costs more to inflate than to carry
	resp, err := f.prom.Do(req)
	if err != nil {
		f.fail("query: %v", err)
		return
	}
	defer resp.Body.Close()
	var a queryAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&a); err != nil || a.Status != "success" {
		f.fail("query: %s: %v", resp.Status, err)
		return
	}
	if len(a.Data.Result) > 0 {
		var s string
		if err := json.Unmarshal(a.Data.Result[0].Value[1], &s); err != nil {
			f.fail("query's value: %v", err)
		} else if _, err := strconv.ParseFloat(s, 64); err != nil {
			f.fail("query's value %q: %v", s, err)
		}
	}
}

// path is the namespace's resource path of the API group/version gv ("apps/v1"), with a name.
func (f *floor) path(gv, resource, name string) string {
	p := "/apis/" + gv + "/namespaces/" + url.PathEscape(f.ns) + "/" + resource
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

var errConflict = errors.New("conflict")

// write sends body as JSON; the answer is read and dropped.
func (f *floor) write(ctx context.Context, method, path, contentType string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := f.request(ctx, method, path, "application/json", data)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := f.kube.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusConflict:
		return errConflict
	case resp.StatusCode >= 300:
		return errors.New(resp.Status)
	}
	return nil
}

// get decodes path's answer into into.
func (f *floor) get(ctx context.Context, path, accept string, into any) error {
	req, err := f.request(ctx, http.MethodGet, path, accept, nil)
	if err != nil {
		return err
	}
	resp, err := f.kube.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(into)
}

func (f *floor) request(ctx context.Context, method, path, accept string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.api+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", agent)
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	return req, nil
}

// objectMeta is what the floor reads of an object's metadata.
type objectMeta struct {
	Name            string `json:"name"`
	ResourceVersion string `json:"resourceVersion"`
	Generation      int64  `json:"generation"`
}

type objectList struct {
	Metadata objectMeta `json:"metadata"`
	Items    []struct {
		Metadata objectMeta `json:"metadata"`
	} `json:"items"`
}

type watchEvent struct {
	Type   string `json:"type"`
	Object struct {
		Metadata objectMeta `json:"metadata"`
		Code     int        `json:"code"` // an ERROR event's Status
	} `json:"object"`
}

// watch follows path from resourceVersion rv until ctx ends, calling each for every event; a
// watch the server ends is resumed from the last version seen, one it expired (410) from now.
func (f *floor) watch(ctx context.Context, path, accept, rv string, each func(watchEvent)) {
	for ctx.Err() == nil {
		req, err := f.request(ctx, http.MethodGet, path+"?watch=1&resourceVersion="+url.QueryEscape(rv), accept, nil)
		if err != nil {
			f.fail("watch %s: %v", path, err)
			return
		}
		resp, err := f.kube.Do(req)
		if err != nil {
			f.fail("watch %s: %v", path, err)
			time.Sleep(time.Second)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			f.fail("watch %s: %s", path, resp.Status)
			_ = resp.Body.Close()
			time.Sleep(time.Second)
			continue
		}
		dec := json.NewDecoder(resp.Body)
		for {
			var e watchEvent
			if err := dec.Decode(&e); err != nil {
				break
			}
			if e.Type == "ERROR" {
				f.fail("watch %s: status %d", path, e.Object.Code)
				if e.Object.Code == http.StatusGone {
					rv = ""
				}
				break
			}
			rv = e.Object.Metadata.ResourceVersion
			each(e)
		}
		_ = resp.Body.Close()
	}
}

// fail logs an error: the first 20, then every 1000th.
func (f *floor) fail(format string, args ...any) {
	if n := f.errs.Add(1); n <= 20 || n%1000 == 0 {
		log.Printf("error %d: "+format, append([]any{n}, args...)...)
	}
}
