package webhook_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/canarykit/canarykit/webhook"
)

// FuzzVerify: whatever the headers and body, Verify never panics, its error is short and wraps
// ErrSignature; a body signed with the key verifies, and any other body does not.
func FuzzVerify(f *testing.F) {
	f.Add("1767225600", "sha256=00", []byte(`{"name":"podinfo"}`), []byte(`{"name":"podinfo"}`))
	f.Add("+1767225600", "", []byte("x"), []byte("y"))
	f.Add("99999999999999999999", "sha256=zz", []byte{}, []byte{0})
	f.Add(strings.Repeat("9", 2000), "sha256="+strings.Repeat("a", 64), []byte("{}"), []byte("{} "))
	now := time.Unix(1767225600, 0)
	key := []byte(strings.Repeat("k", webhook.MinKeyLength))
	v, err := webhook.NewVerifier(webhook.VerifierConfig{Keys: [][]byte{key}, Clock: clocktesting.NewFakePassiveClock(now)})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, ts, sig string, body, other []byte) {
		h := http.Header{}
		h.Set(webhook.TimestampHeader, ts)
		h.Set(webhook.SignatureHeader, sig)
		if err := v.Verify(h, body); err != nil {
			require.ErrorIs(t, err, webhook.ErrSignature)
			assert.Less(t, len(err.Error()), 300, "error text is bounded")
		}
		signed := http.Header{}
		webhook.SignHeaders(signed, key, now, body)
		require.NoError(t, v.Verify(signed, body))
		if string(other) != string(body) {
			assert.ErrorIs(t, v.Verify(signed, other), webhook.ErrSignature)
		}
	})
}
