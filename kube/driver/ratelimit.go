package driver

import (
	"math"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// StepRequests is the client requests a target makes per analysis interval in the worst
// steady case, with headroom: a weight step measures 3 to 6 (route write, status write,
// event, a lease renewal, reads the caches miss; internal/scale).
const StepRequests = 6

// RateHeadroom is how far below its limit the client is kept: releases start in bursts
// (a bootstrap creates the primary, its Services and the route at once).
const RateHeadroom = 2

// StartRequests is the client requests a target makes at once when it starts, with headroom:
// its bootstrap measures 14 (the lease, the primary Deployment, three Services, the route,
// Events, the status), a release start fewer. Each running target adds it to the burst.
const StartRequests = 16

// RateLimit is the client rate limit a driver of targets released at the shortest analysis
// interval needs: targets × StepRequests × RateHeadroom requests per interval, never below
// DefaultQPS, with a burst of targets × StartRequests (every target may start at once), never
// below twice the QPS nor DefaultBurst. For example 1,000 targets at 10 s need 1,200 QPS
// (burst 16,000); 20 targets 50 QPS (burst 320).
func RateLimit(targets int, interval time.Duration) (qps float32, burst int) {
	if targets <= 0 || interval <= 0 {
		return DefaultQPS, DefaultBurst
	}
	return limitFor(map[time.Duration]int{interval: targets})
}

// limitFor is RateLimit for targets of several intervals (counted by interval, each > 0).
func limitFor(running map[time.Duration]int) (qps float32, burst int) {
	var need float64
	var targets int
	for interval, n := range running {
		need += float64(n*StepRequests*RateHeadroom) / interval.Seconds()
		targets += n
	}
	qps = float32(max(math.Ceil(need), DefaultQPS))
	return qps, max(targets*StartRequests, int(2*qps), DefaultBurst)
}

// rateLimits gives cfg the driver's client rate limit and returns what follows the running
// targets:
//   - Config.QPS, Burst and RateLimiter unset: an adaptive limiter, RateLimit of the running
//     targets, never below RateLimit(opts.Targets, opts.Interval) (DefaultQPS and DefaultBurst
//     for a driver not sized);
//   - Config.QPS or Burst set: a fixed limiter of them (the one unset from
//     RateLimit(opts.Targets, opts.Interval)), and a warning when the running targets' load nears it;
//   - Config.RateLimiter of the embedder's: kept, with the warning; QPS below 0: no limit.
//
// The limiter is shared by every client built from cfg: one budget for the driver. It runs on
// the real clock (Options.Clock drives the releases only). The limiter is nil when the
// embedder's is kept or there is none.
func rateLimits(cfg *rest.Config, opts Options) (*clientLimiter, *rateWatch) {
	w := &rateWatch{log: opts.Logger}
	switch {
	case cfg.RateLimiter != nil:
		w.qps = cfg.RateLimiter.QPS()
		return nil, w
	case cfg.QPS < 0:
		w.qps = -1
		return nil, w
	}
	qps, burst := RateLimit(opts.Targets, opts.Interval)
	if cfg.QPS == 0 && cfg.Burst == 0 {
		l := newClientLimiter(qps, burst, clock.RealClock{})
		cfg.RateLimiter = l
		w.adaptive, w.floorQPS, w.floorBurst, w.logged = l, qps, burst, qps
		return l, w
	}
	if cfg.QPS == 0 {
		cfg.QPS = qps
	}
	if cfg.Burst == 0 {
		cfg.Burst = burst
	}
	l := newClientLimiter(cfg.QPS, cfg.Burst, clock.RealClock{})
	cfg.RateLimiter = l
	w.qps = cfg.QPS
	return l, w
}

// RateWarning is the share of a fixed client QPS the driven targets' expected load may reach
// before the driver warns that the limit will delay the releases.
const RateWarning = 0.8

// RateLog is the relative change of an adaptive limit that the driver logs: a new QPS a
// quarter above or below the last one logged (and the QPS back at its floor).
const RateLog = 0.25

// rateWatch follows the running targets (Targets started and Releases running): it sets an
// adaptive limiter's limit from them, or, for a fixed limit, warns once per crossing when
// their expected load (StepRequests per analysis interval each) passes RateWarning of it.
type rateWatch struct {
	log logr.Logger
	// adaptive: the limiter whose limit follows the targets, never below the floor
	adaptive   *clientLimiter
	floorQPS   float32
	floorBurst int
	qps        float32 // a fixed limit; ≤ 0: none

	mu      sync.Mutex
	running map[time.Duration]int // targets by analysis interval
	load    float64               // requests per second expected
	warned  bool
	logged  float32 // the adaptive QPS last logged
}

// add counts a target of interval in (n = 1) or out (n = -1) and says whether it warned. A
// nil rateWatch counts nothing.
func (w *rateWatch) add(interval time.Duration, n int) bool {
	if w == nil {
		return false
	}
	if interval <= 0 {
		interval = time.Minute // Flagger's default interval
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running == nil {
		w.running = map[time.Duration]int{}
	}
	if w.running[interval] += n; w.running[interval] <= 0 {
		delete(w.running, interval)
	}
	w.load = max(0, w.load+float64(n*StepRequests)/interval.Seconds())
	if w.adaptive != nil {
		w.adapt()
		return false
	}
	if w.qps <= 0 {
		return false
	}
	over := w.load > RateWarning*float64(w.qps)
	if over && !w.warned {
		w.warned = true
		w.log.Info("warning: the client rate limit is near the targets' expected load; releases will be delayed (leave Config.QPS, Burst and RateLimiter unset for a limit that follows the targets, or raise them)",
			"qps", w.qps, "expectedRequestsPerSecond", math.Round(w.load*10)/10)
		return true
	}
	if !over {
		w.warned = false
	}
	return false
}

// targets is how many targets run.
func (w *rateWatch) targets() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.running {
		n += c
	}
	return n
}

// adapt sets the adaptive limit for the running targets and logs it when it moved by RateLog
// or more since last logged, or came back to the floor. w.mu is held.
func (w *rateWatch) adapt() {
	qps, burst := w.floorQPS, w.floorBurst
	targets := 0
	for _, n := range w.running {
		targets += n
	}
	if targets > 0 {
		q, b := limitFor(w.running)
		qps, burst = max(qps, q), max(burst, b)
	}
	w.adaptive.set(qps, burst)
	back := qps == w.floorQPS && w.logged != qps
	if back || math.Abs(float64(qps-w.logged)) >= RateLog*float64(w.logged) {
		w.logged = qps
		w.log.Info("client rate limit set for the running targets", "qps", qps, "burst", burst, "targets", targets)
	}
}
