package httpx

import (
	"net/url"
	"strings"
	"testing"

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
