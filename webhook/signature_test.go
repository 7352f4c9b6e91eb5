package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

var (
	key      = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

func TestSignedRequestsVerify(t *testing.T) {
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{key}})
	require.NoError(t, err)
	rc := &webhooktest.Receiver{Verifier: v}
	url := rc.Start(t)

	ok, err := newClient(t, webhook.Options{SigningKey: key}).Allow(context.Background(), gateReq("signed", canary.HookRollout, url))
	require.NoError(t, err)
	assert.True(t, ok)
	got := rc.Requests()[0]
	assert.True(t, strings.HasPrefix(got.Header.Get(webhook.SignatureHeader), "sha256="))
	assert.NoError(t, webhook.Verify(key, got.Header, got.Body))

	ok, err = newClient(t, webhook.Options{SigningKey: otherKey}).Allow(context.Background(), gateReq("wrong-key", canary.HookRollout, url))
	assert.False(t, ok)
	assert.ErrorContains(t, err, "status 401 Unauthorized")
	assert.ErrorContains(t, err, "signature does not match the body")

	ok, err = newClient(t, webhook.Options{}).Allow(context.Background(), gateReq("unsigned", canary.HookRollout, url))
	assert.False(t, ok)
	assert.ErrorContains(t, err, "missing X-Canarykit-Timestamp or X-Canarykit-Signature header")
}

func TestSignIsHMACOfTimestampAndBody(t *testing.T) {
	// Known answer, so receivers in other languages can check their implementation:
	// printf '1767225600.{"name":"podinfo"}' | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
	assert.Equal(t, "sha256=d49e9a6b39731592581f8edce96b24bdc9cccbd122a82127d91b4b1184418280",
		webhook.Sign(key, 1767225600, []byte(`{"name":"podinfo"}`)))
	assert.Len(t, webhook.Sign(key, 1767225600, []byte("x")), len("sha256=")+64)
	assert.NotEqual(t, webhook.Sign(key, 1767225600, []byte("x")), webhook.Sign(key, 1767225601, []byte("x")),
		"the timestamp is signed")
}

func signed(ts time.Time, k, body []byte) http.Header {
	h := http.Header{}
	h.Set(webhook.TimestampHeader, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.SignatureHeader, webhook.Sign(k, ts.Unix(), body))
	return h
}

func TestVerifier(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(now)
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{otherKey, key}, Tolerance: time.Minute, Clock: clk})
	require.NoError(t, err)
	body := []byte(`{"name":"podinfo"}`)

	assert.NoError(t, v.Verify(signed(now, key, body), body), "any configured key verifies (rotation)")
	assert.NoError(t, v.Verify(signed(now.Add(-59*time.Second), key, body), body))

	for name, tc := range map[string]struct {
		h    http.Header
		body []byte
		want string
	}{
		"tampered body":   {signed(now, key, body), []byte(`{"name":"evil"}`), "does not match"},
		"unknown key":     {signed(now, []byte("some-other-key-0123456789"), body), body, "does not match"},
		"replayed later":  {signed(now.Add(-2*time.Minute), key, body), body, "2m0s away from now (tolerance 1m0s)"},
		"from the future": {signed(now.Add(2*time.Minute), key, body), body, "-2m0s away"},
		"missing":         {http.Header{}, body, "missing"},
		"bad timestamp":   {http.Header{webhook.TimestampHeader: {"yesterday"}, webhook.SignatureHeader: {"sha256=00"}}, body, "malformed X-Canarykit-Timestamp"},
		"bad prefix":      {http.Header{webhook.TimestampHeader: {"1"}, webhook.SignatureHeader: {"md5=00"}}, body, `must start with "sha256="`},
		"bad hex":         {http.Header{webhook.TimestampHeader: {"1"}, webhook.SignatureHeader: {"sha256=zz"}}, body, "malformed X-Canarykit-Signature"},
	} {
		err := v.Verify(tc.h, tc.body)
		assert.ErrorIs(t, err, webhook.ErrSignature, name)
		assert.ErrorContains(t, err, tc.want, name)
	}
}

func TestVerifierMiddleware(t *testing.T) {
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{key}, MaxBodyBytes: 64})
	require.NoError(t, err)
	var seen string
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = string(b)
	}))
	body := `{"name":"podinfo"}`
	serve := func(hdr http.Header, body string) int {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header = hdr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusOK, serve(signed(time.Now(), key, []byte(body)), body))
	assert.Equal(t, body, seen, "the handler reads the verified body")
	assert.Equal(t, http.StatusUnauthorized, serve(signed(time.Now(), key, []byte(body)), `{"name":"x"}`))
	long := strings.Repeat("x", 65)
	assert.Equal(t, http.StatusRequestEntityTooLarge, serve(signed(time.Now(), key, []byte(long)), long))
}

func TestNewVerifierReportsEveryProblem(t *testing.T) {
	_, err := webhook.NewVerifier(webhook.VerifierConfig{})
	assert.ErrorContains(t, err, "at least one key")
	_, err = webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{[]byte("short")}, Tolerance: -1, MaxBodyBytes: -1})
	require.ErrorIs(t, err, webhook.ErrInvalidOptions)
	for _, want := range []string{"Keys[0]", "Tolerance", "MaxBodyBytes"} {
		assert.Contains(t, err.Error(), want)
	}
}
