package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/canarykit/canarykit/internal/textcut"
)

// The signature scheme (beyond Flagger, which does not sign): with a signing key, every
// request carries
//
//	X-Canarykit-Timestamp: <unix seconds>
//	X-Canarykit-Signature: sha256=<hex HMAC-SHA256(key, "<unix seconds>." + body)>
//
// The timestamp is part of the signed text, so a receiver that rejects timestamps outside a
// tolerance (default 5 minutes) rejects replays of old requests; a receiver that must reject
// every replay can also remember the signatures it saw within the tolerance. Each retry is
// signed afresh. Receivers verify with Verify, a Verifier, or Verifier.Middleware.
const (
	SignatureHeader = "X-Canarykit-Signature"
	TimestampHeader = "X-Canarykit-Timestamp"
	// SignaturePrefix names the algorithm in the signature header's value.
	SignaturePrefix = "sha256="
	// DefaultTolerance is how far a request's timestamp may be from the receiver's clock.
	DefaultTolerance = 5 * time.Minute
	// MinKeyLength is the shortest signing key accepted, in bytes (32 random bytes recommended).
	MinKeyLength = 16
)

// Sign returns the signature header value for body sent at unix time ts:
// "sha256=" + hex(HMAC-SHA256(key, "<ts>." + body)).
func Sign(key []byte, ts int64, body []byte) string {
	return SignaturePrefix + hex.EncodeToString(mac(key, strconv.FormatInt(ts, 10), body))
}

func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignHeaders sets the timestamp and signature headers of a request whose body is sent at
// now, for senders other than the Client.
func SignHeaders(h http.Header, key []byte, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	h.Set(SignatureHeader, Sign(key, ts, body))
}

// Verify checks a request's signature headers against body with key, the real clock and
// DefaultTolerance. Errors wrap ErrSignature.
func Verify(key []byte, h http.Header, body []byte) error {
	return verify([][]byte{key}, h, body, time.Now(), DefaultTolerance)
}

// VerifierConfig configures a Verifier. Zero fields mean "default".
type VerifierConfig struct {
	// Keys are the accepted signing keys (more than one while rotating). Required.
	Keys [][]byte
	// Tolerance is how far a request's timestamp may be from now. Default 5 minutes.
	Tolerance time.Duration
	// MaxBodyBytes bounds the body Middleware reads. Default 1 MiB.
	MaxBodyBytes int64
	// Clock tells the time. Default: the real clock.
	Clock clock.PassiveClock
}

// Verifier checks signed requests for receivers. Safe for concurrent use.
type Verifier struct {
	keys      [][]byte
	tolerance time.Duration
	maxBody   int64
	clock     clock.PassiveClock
}

// NewVerifier validates cfg and returns a Verifier; all problems are reported at once, wrapping
// ErrInvalidOptions.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var p problems
	if len(cfg.Keys) == 0 {
		p.add("Keys: at least one key is required")
	}
	for i, k := range cfg.Keys {
		if len(k) < MinKeyLength {
			p.add("Keys[%d]: must be at least %d bytes, got %d", i, MinKeyLength, len(k))
		}
	}
	if cfg.Tolerance < 0 {
		p.add("Tolerance: must not be negative, got %s", cfg.Tolerance)
	}
	if cfg.MaxBodyBytes < 0 {
		p.add("MaxBodyBytes: must not be negative, got %d", cfg.MaxBodyBytes)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	v := &Verifier{tolerance: cfg.Tolerance, maxBody: cfg.MaxBodyBytes, clock: cfg.Clock}
	for _, k := range cfg.Keys {
		v.keys = append(v.keys, bytes.Clone(k))
	}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.maxBody == 0 {
		v.maxBody = maxPayloadBytes
	}
	if v.clock == nil {
		v.clock = clock.RealClock{}
	}
	return v, nil
}

// Verify checks h's signature headers against body. Errors wrap ErrSignature and say why.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	return verify(v.keys, h, body, v.clock.Now(), v.tolerance)
}

// Middleware verifies each request before next sees it; next reads the same body. A request
// that fails gets 401 with the reason; a body over MaxBodyBytes gets 413.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, v.maxBody+1))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if int64(len(body)) > v.maxBody {
			http.Error(w, fmt.Sprintf("body larger than %d bytes", v.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		if err := v.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func verify(keys [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	tsText, sigText := h.Get(TimestampHeader), h.Get(SignatureHeader)
	if tsText == "" || sigText == "" {
		return fmt.Errorf("%w: missing %s or %s header", ErrSignature, TimestampHeader, SignatureHeader)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed %s %q", ErrSignature, TimestampHeader, textcut.Runes(tsText, 32))
	}
	hexSig, ok := strings.CutPrefix(sigText, SignaturePrefix)
	if !ok {
		return fmt.Errorf("%w: %s must start with %q", ErrSignature, SignatureHeader, SignaturePrefix)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed %s", ErrSignature, SignatureHeader)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: timestamp %d is %s away from now (tolerance %s)", ErrSignature, ts, skew.Round(time.Second), tolerance)
	}
	for _, k := range keys {
		if len(k) > 0 && hmac.Equal(got, mac(k, tsText, body)) {
			return nil
		}
	}
	return fmt.Errorf("%w: signature does not match the body", ErrSignature)
}
