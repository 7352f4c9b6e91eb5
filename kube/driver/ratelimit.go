package driver

import (
	"math"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
)

// StepRequests is the client requests a target makes per analysis interval in the worst
// steady case, with headroom: a weight step measures 3 to 6 (route write, status write,
// event, a lease renewal, reads the caches miss; internal/scale).
const StepRequests = 6

// RateHeadroom is how far below its limit the client is kept: releases start in bursts
// (a bootstrap creates the primary, its Services and the route at once).
const RateHeadroom = 2

// RateLimit is the client rate limit a driver of targets released at the shortest analysis
// interval needs: targets × StepRequests × RateHeadroom requests per interval, never below
// DefaultQPS, with a burst of twice the QPS (never below DefaultBurst). For example 1,000
// targets at 10 s need 1,200 QPS (burst 2,400); 20 targets stay at the defaults.
func RateLimit(targets int, interval time.Duration) (qps float32, burst int) {
	if targets <= 0 || interval <= 0 {
		return DefaultQPS, DefaultBurst
	}
	need := math.Ceil(float64(targets*StepRequests*RateHeadroom) / interval.Seconds())
	qps = float32(max(need, DefaultQPS))
	return qps, max(int(2*qps), DefaultBurst)
}

// rateLimits sets cfg's QPS and Burst, when 0, from opts: RateLimit(opts.Targets,
// opts.Interval) when the driver is sized, else DefaultQPS and DefaultBurst. A RateLimiter of
// the embedder's, or a QPS below 0 (no limit), is left as it is.
func rateLimits(cfg *rest.Config, opts Options) {
	if cfg.RateLimiter != nil {
		return
	}
	qps, burst := RateLimit(opts.Targets, opts.Interval)
	if cfg.QPS == 0 {
		cfg.QPS = qps
	}
	if cfg.Burst == 0 {
		cfg.Burst = burst
	}
}

// RateWarning is the share of the client's QPS the driven targets' expected load may reach
// before the driver warns that the limit will delay the releases.
const RateWarning = 0.8

// rateWatch sums the expected load of the running targets (StepRequests per analysis
// interval each) and warns, once per crossing, when it passes RateWarning of the limit.
type rateWatch struct {
	qps float32 // the client's limit; ≤ 0: none
	log logr.Logger

	mu     sync.Mutex
	load   float64 // requests per second expected
	warned bool
}

// add counts a target of interval in (n = 1) or out (n = -1) and says whether it warned.
func (w *rateWatch) add(interval time.Duration, n int) bool {
	if interval <= 0 {
		interval = time.Minute // Flagger's default interval
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.load = max(0, w.load+float64(n*StepRequests)/interval.Seconds())
	if w.qps <= 0 {
		return false
	}
	over := w.load > RateWarning*float64(w.qps)
	if over && !w.warned {
		w.warned = true
		w.log.Info("warning: the client rate limit is near the targets' expected load; releases will be delayed (size the driver with Options.Targets and Options.Interval, or set Config.QPS and Burst)",
			"qps", w.qps, "expectedRequestsPerSecond", math.Round(w.load*10)/10)
		return true
	}
	if !over {
		w.warned = false
	}
	return false
}
