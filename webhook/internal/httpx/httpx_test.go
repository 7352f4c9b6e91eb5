package httpx

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestReadExcerpt(t *testing.T) {
	assert.Equal(t, "no route", ReadExcerpt(strings.NewReader("  no route\n")))
	long := strings.Repeat("é", 400) // 800 bytes
	got := ReadExcerpt(strings.NewReader(long))
	assert.True(t, strings.HasSuffix(got, "… (truncated)"))
	cut := strings.TrimSuffix(got, "… (truncated)")
	assert.LessOrEqual(t, len(cut), ExcerptLimit)
	assert.Equal(t, strings.Repeat("é", len(cut)/2), cut, "cut at a rune boundary")
	assert.Equal(t, "", ReadExcerpt(strings.NewReader("")))
	assert.Equal(t, "empty body", Quote(""))
	assert.Equal(t, `body "a\nb"`, Quote("a\nb"))
}

func TestSafeURL(t *testing.T) {
	u, _ := url.Parse("https://user:pass@hooks.example/services/T0/B0/xyz?token=abc#frag")
	assert.Equal(t, "https://redacted@hooks.example/services/T0/B0/xyz?…", SafeURL(u))
	u, _ = url.Parse("https://s3cret@hooks.example/x") // a token as the user name
	assert.Equal(t, "https://redacted@hooks.example/x", SafeURL(u))
	assert.Equal(t, "https://hooks.example/…", HostOnly(u))
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"3":                             3 * time.Second,
		" 120 ":                         2 * time.Minute,
		"Thu, 01 Jan 2026 12:00:30 GMT": 30 * time.Second,
		"Thu, 01 Jan 2026 11:00:00 GMT": -1, // past
		"0":                             -1,
		"-1":                            -1,
		"1.5":                           -1,
		"soon":                          -1,
		"":                              -1,
		"99999999999":                   -1, // beyond 32 bits of seconds
	} {
		got, ok := RetryAfter(http.Header{"Retry-After": {v}}, now)
		if want < 0 {
			assert.False(t, ok, v)
			continue
		}
		assert.True(t, ok, v)
		assert.Equal(t, want, got, v)
	}
}
