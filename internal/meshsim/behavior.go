package meshsim

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"
	"time"
)

// Behavior is how the pods of one app version answer. The zero value is a healthy app: no
// errors, no added latency.
type Behavior struct {
	// ErrorRate is the share of requests answered with 500, from 0 to 1. Without Seed the
	// failures are spread evenly over each Deployment's requests to each path (after n
	// requests to a path, floor(n × ErrorRate) have failed), so any
	// window of a path's traffic shows the configured rate to within one request, and a probe
	// of its own path (an acceptance test's POST /token) meets the rate too, whatever other
	// traffic the Deployment gets at the same time.
	ErrorRate float64
	// Latency is added before every answer.
	Latency time.Duration
	// Jitter adds a further delay drawn uniformly from [0, Jitter).
	Jitter time.Duration
	// Seed, if not 0, draws failures at random (each request fails with probability
	// ErrorRate), reproducibly for the seed, and seeds the jitter (which otherwise uses seed 1).
	Seed int64
}

func (b Behavior) validate() error {
	var p []string
	if b.ErrorRate < 0 || b.ErrorRate > 1 || math.IsNaN(b.ErrorRate) {
		p = append(p, fmt.Sprintf("ErrorRate must be 0..1, got %v", b.ErrorRate))
	}
	if b.Latency < 0 || b.Jitter < 0 {
		p = append(p, "Latency and Jitter must not be negative")
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidBehavior, strings.Join(p, "; "))
	}
	return nil
}

// imageTag returns the tag of an image reference ("ghcr.io/stefanprodan/podinfo:3.1.0" →
// "3.1.0"), or "" when it has none. A digest ("@sha256:…") is not a tag.
func imageTag(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	colon := strings.LastIndexByte(image, ':')
	if colon <= slash {
		return ""
	}
	return image[colon+1:]
}

// versions holds the Behavior of each version and the state that spreads failures.
type versions struct {
	mu     sync.Mutex
	byKey  map[string]Behavior
	states map[stateKey]*versionState
}

// stateKey is one Deployment running one image: failures are spread over its requests to
// each path.
type stateKey struct{ deployment, image string }

type versionState struct {
	requests map[string]uint64 // by path
	rng      *rand.Rand
	seed     int64
}

// set validates and stores b for key (an image tag or a whole image reference).
func (v *versions) set(key string, b Behavior) error {
	if key == "" {
		return fmt.Errorf("%w: empty version key", ErrInvalidBehavior)
	}
	if err := b.validate(); err != nil {
		return fmt.Errorf("version %q: %w", key, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.byKey == nil {
		v.byKey = map[string]Behavior{}
	}
	v.byKey[key] = b
	return nil
}

// lookup returns the Behavior of image: the entry for the whole reference, else the one for
// its tag, else healthy.
func (v *versions) lookup(image string) Behavior {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lookupLocked(image)
}

func (v *versions) lookupLocked(image string) Behavior {
	if b, ok := v.byKey[image]; ok {
		return b
	}
	if tag := imageTag(image); tag != "" {
		if b, ok := v.byKey[tag]; ok {
			return b
		}
	}
	return Behavior{}
}

// decide says how the next request for path to deployment's pod running image is answered:
// after how long, and whether it fails.
func (v *versions) decide(deployment, image, path string) (time.Duration, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.lookupLocked(image)
	if v.states == nil {
		v.states = map[stateKey]*versionState{}
	}
	k := stateKey{deployment, image}
	st, ok := v.states[k]
	seed := b.Seed
	if seed == 0 {
		seed = 1
	}
	if !ok || st.seed != seed {
		st = &versionState{requests: map[string]uint64{}, rng: rand.New(rand.NewSource(seed)), seed: seed}
		v.states[k] = st
	}
	var fail bool
	if b.Seed != 0 {
		fail = st.rng.Float64() < b.ErrorRate
	} else {
		// Even spread: request n+1 to a path fails when it raises floor(n × rate).
		n := float64(st.requests[path])
		fail = math.Floor((n+1)*b.ErrorRate) > math.Floor(n*b.ErrorRate)
		st.requests[path]++
	}
	d := b.Latency
	if b.Jitter > 0 {
		d += time.Duration(st.rng.Int63n(int64(b.Jitter)))
	}
	return d, fail
}
