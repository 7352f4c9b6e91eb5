package canary

import (
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// Config wires a Rollout: what to release, how, and through which adapters. Zero fields mean
// "default"; New validates everything and reports all problems at once.
type Config struct {
	// Target is the workload to release. Required.
	Target Target
	// Spec is the release's analysis (Flagger's `analysis`).
	Spec Spec

	// Workload drives the target and its primary. Required.
	Workload Workload
	// Router shapes the traffic split. Required.
	Router MeshRouter
	// Metrics runs the Spec's metric queries. Required when a metric queries and has no
	// Metric.Provider of its own.
	Metrics MetricProvider
	// Store persists the status. Default: in memory (a new process cannot resume).
	Store StatusStore
	// Webhooks runs the Spec's webhooks (e.g. an HTTP client that speaks Flagger's payload).
	// Required when the Spec has webhooks.
	Webhooks Gate
	// Gates are hooks written in Go, run beside the Spec's webhooks of the same type.
	Gates []Hook
	// Builtins maps built-in metric names to query templates, used for metrics without a query
	// (Flagger's built-in checks; the metrics package has Linkerd's).
	Builtins map[string]string
	// Checkers binds metrics by name to code-defined checks.
	Checkers map[string]Checker
	// Split measures how the requests are divided between primary and canary, for the split
	// check (Spec.SplitCheck says what it does). nil: the split is not checked.
	Split *SplitQueries

	// OnEvent receives every event, synchronously, from the Rollout's goroutine; it must not
	// block for long.
	OnEvent func(Event)
	// Logger receives structured logs. Default: discard.
	Logger logr.Logger
	// Clock drives the analysis interval. Default: the real clock.
	Clock clock.Clock
	// Stagger puts a release's ticks on the target's own grid: every Spec.Interval from an
	// offset within the interval given by a hash of the target's namespace and name (from the
	// Unix epoch), in whole GridSlots when the interval holds two or more. The tick after one
	// that began at t is the grid's next time after t + Interval/2: one interval later when
	// the ticks are on the grid, between half an interval and one and a half after a tick that
	// was not (the release's detection, a control request). Targets released at once (a base
	// image shared by all of them) then tick spread over the interval, as Flagger's per-Canary
	// tickers do, instead of together: the API server and Prometheus see an even load, not a
	// burst every interval, and the targets of one slot wake their process once. Off: each
	// tick is due one interval after the one before, from the release's detection.
	Stagger bool
}

// Rollout drives releases of one target: each Run takes the target's current revision through
// Flagger's canary analysis to Succeeded or Failed. It is safe to call Promote, Abort, Pause
// and Resume from any goroutine while Run is in progress.
type Rollout struct {
	target   Target
	spec     Spec
	workload Workload
	router   MeshRouter
	store    StatusStore
	checks   []check
	split    *splitQueries // nil: no split check
	hooks    map[HookType][]boundHook
	onEvent  func(Event)
	log      logr.Logger
	clock    clock.Clock
	grid     time.Duration // Config.Stagger: the offset of the target's grid within the interval; -1 off

	running atomic.Bool
	ctl     control
}

// check is a metric ready to run: its resolved query, or its Checker.
type check struct {
	metric   Metric
	query    string
	provider MetricProvider
	checker  Checker
}

// boundHook is a hook with the Gate that answers it.
type boundHook struct {
	hook Webhook
	gate Gate
}

// New validates cfg and returns a Rollout. It touches nothing: all I/O happens in Run. An
// invalid cfg yields a *ValidationError listing every problem (errors.Is(err, ErrInvalidSpec)).
func New(cfg Config) (*Rollout, error) {
	var p problems
	validateTarget(&p, cfg.Target)
	cfg.Spec.validate(&p)
	validateConfig(&p, &cfg)
	if len(p) > 0 {
		return nil, p.err()
	}

	spec := cfg.Spec.withDefaults()
	target := cfg.Target
	target.Match = cloneMatches(spec.Match)
	target.Mirror = spec.mirrorPercent()
	r := &Rollout{
		target:   target,
		spec:     spec,
		workload: cfg.Workload,
		router:   cfg.Router,
		store:    cfg.Store,
		onEvent:  cfg.OnEvent,
		log:      cfg.Logger.WithValues("target", target.String()),
		clock:    cfg.Clock,
		hooks:    map[HookType][]boundHook{},
		grid:     -1,
	}
	if cfg.Stagger {
		r.grid = gridOffset(target, spec.Interval)
	}
	if r.store == nil {
		r.store = NewMemoryStore()
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}

	for i, m := range spec.Metrics {
		if ch, ok := cfg.Checkers[m.Name]; ok {
			r.checks = append(r.checks, check{metric: m, checker: ch})
			continue
		}
		text := m.Query
		if text == "" {
			text = cfg.Builtins[m.Name]
		}
		q, err := RenderQuery(text, VarsFor(target, m))
		if err != nil {
			p.add(fmt.Sprintf("analysis.metrics[%d].query", i), "%v", err)
			continue
		}
		provider := m.Provider
		if provider == nil {
			provider = cfg.Metrics
		}
		r.checks = append(r.checks, check{metric: m, query: q, provider: provider})
	}
	r.split = compileSplit(&p, &cfg, spec)
	for _, h := range spec.Webhooks {
		r.hooks[h.Type] = append(r.hooks[h.Type], boundHook{hook: h, gate: cfg.Webhooks})
	}
	for _, g := range cfg.Gates {
		h := Webhook{Name: g.Name, Type: g.Type, Timeout: g.Timeout}
		if h.Timeout == 0 {
			h.Timeout = DefaultHookTimeout
		}
		r.hooks[g.Type] = append(r.hooks[g.Type], boundHook{hook: h, gate: g.Gate})
	}
	if len(p) > 0 {
		return nil, p.err()
	}
	return r, nil
}

// Target returns the target, with its match conditions and mirror filled from the spec.
func (r *Rollout) Target() Target { return r.target }

// Spec returns the spec with defaults applied.
func (r *Rollout) Spec() Spec { return r.spec }

// Promote skips the remaining analysis steps: at the next tick a ready canary is promoted,
// without waiting for confirm-promotion gates. It has effect during a release only.
func (r *Rollout) Promote() { r.ctl.set(func(c *controlState) { c.promote = true }) }

// Abort rolls the release back at once: traffic to the primary, canary scaled to zero, phase
// Failed. It has effect until the primary starts taking the promoted revision (Promoting).
func (r *Rollout) Abort() { r.ctl.set(func(c *controlState) { c.abort = true }) }

// Pause stops the analysis: no checks, no weight changes, no failed checks counted, until
// Resume. Abort and context cancellation still work while paused.
func (r *Rollout) Pause() { r.ctl.set(func(c *controlState) { c.paused, c.pauseSet = true, true }) }

// Resume continues a paused analysis at the next tick. Called before Run, it also resumes a
// release that an earlier process paused (a Resume is newer than the saved status).
func (r *Rollout) Resume() { r.ctl.set(func(c *controlState) { c.paused, c.pauseSet = false, true }) }

// Paused reports whether the rollout is paused.
func (r *Rollout) Paused() bool { return r.ctl.get().paused }

// control carries requests from other goroutines to Run.
type control struct {
	mu    sync.Mutex
	state controlState
	wake  chan struct{}
	once  sync.Once
	// aborted is closed while an abort is pending, to cut short hook calls in progress.
	aborted chan struct{}
}

type controlState struct {
	promote, abort, paused bool
	pauseSet               bool // Pause or Resume was called: it overrides the saved Paused
}

func (c *control) init() { c.once.Do(func() { c.wake = make(chan struct{}, 1) }) }

func (c *control) set(f func(*controlState)) {
	c.init()
	c.mu.Lock()
	f(&c.state)
	if c.state.abort {
		c.abortedLocked()
		select {
		case <-c.aborted:
		default:
			close(c.aborted)
		}
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *control) get() controlState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// take returns and clears the one-shot requests.
func (c *control) take(promote, abort bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if promote {
		c.state.promote = false
	}
	if abort {
		c.state.abort = false
		c.aborted = nil
	}
}

// abortedLocked returns the channel closed while an abort is pending; c.mu is held.
func (c *control) abortedLocked() chan struct{} {
	if c.aborted == nil {
		c.aborted = make(chan struct{})
	}
	return c.aborted
}

// abortC returns a channel closed once an abort is requested.
func (c *control) abortC() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abortedLocked()
}

func (c *control) wakeC() <-chan struct{} {
	c.init()
	return c.wake
}

// hookTimeout bounds a hook call.
func hookTimeout(h Webhook) time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return DefaultHookTimeout
}

// gridOffset is where target's ticks fall within every interval when staggered: a hash of its
// namespace and name, the same in every process.
func gridOffset(target Target, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(target.Namespace))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(target.Name))
	off := time.Duration(h.Sum64() % uint64(interval))
	if interval >= 2*GridSlot {
		off -= off % GridSlot
	}
	return off
}

// GridSlot is the step of the offsets of staggered grids (Config.Stagger) in an interval of at
// least two slots: the targets whose hashes fall in the same slot tick at the same instant, so
// that a process driving many of them wakes once for all of them, not once for each. On the
// 2-core virtual machine the scale harness runs on, a wake-up of an idle process costs more
// CPU than the request it makes (BenchmarkRequestCPUTogether, kube/driver): at 1,000 targets
// (about 25 a slot at an interval of 10 s) ticks in slots of 250 ms took a step's CPU from
// 4.2-4.4 ms to 3.4-3.6 ms in three runs of four, the lateness within the runs' spread (slots
// of 1 s: 3.7 ms, and a tail of 1.3 s in the API server for the route writes of 100 targets
// at once).
const GridSlot = 250 * time.Millisecond

// nextOnGrid is the first time of the grid (offset plus whole intervals from the Unix epoch)
// after t + interval/2. Far from the epoch (a zero time), where durations saturate, it is t + interval.
func nextOnGrid(t time.Time, offset, interval time.Duration) time.Time {
	if y := t.Year(); y < 1700 || y > 2200 {
		return t.Add(interval)
	}
	epoch := time.Unix(0, 0)
	from := t.Add(interval / 2).Sub(epoch.Add(offset)) // saturates far from the epoch
	n := from / interval
	if from < 0 && from%interval != 0 {
		n-- // floor
	}
	return epoch.Add(offset).Add((n + 1) * interval)
}
