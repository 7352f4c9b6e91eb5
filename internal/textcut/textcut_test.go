package textcut

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestCuts(t *testing.T) {
	s := "ab" + "é" + "cd" // é is 2 bytes: bytes 2 and 3
	assert.Equal(t, "ab", Prefix(s, 3), "never inside a rune")
	assert.Equal(t, "abé", Prefix(s, 4))
	assert.Equal(t, s, Prefix(s, 100))
	assert.Equal(t, "", Prefix(s, -1))
	assert.Equal(t, "ab…", Bytes(s, 3))
	assert.Equal(t, s, Bytes(s, len(s)))
	assert.Equal(t, "ab…", Within(s, 5), "Ellipsis is 3 bytes of the 5")
	assert.Equal(t, s, Within(s, len(s)))
	assert.Equal(t, "abé…", Runes(s, 4))
	assert.Equal(t, s, Runes(s, 5))
	assert.Equal(t, "…", Runes(s, 1))
	for n := 0; n < 12; n++ {
		for _, got := range []string{Prefix(s, n), Bytes(s, n), Within(s, n+3), Runes("日本語のテキスト", n+1)} {
			assert.True(t, utf8.ValidString(got), "%d: %q", n, got)
		}
		assert.LessOrEqual(t, len(Within(strings.Repeat("é", 10), n+3)), n+3)
	}
}

func TestQuote(t *testing.T) {
	assert.Equal(t, `"a\nb"`, Quote("a\nb", 3))
	assert.Equal(t, `"ab"…`, Quote("abé", 3), "never inside a rune")
	assert.Equal(t, `"abé"`, Quote("abé", 4))
}

// A bound with no room for Ellipsis still bounds: Runes with n 0 (or less) returned s whole,
// and Within with n under Ellipsis's 3 bytes returned more than n bytes.
func TestCutsToBoundsTooSmallForTheMark(t *testing.T) {
	s := "abcdef"
	for n := -1; n <= 0; n++ {
		assert.Equal(t, "", Runes(s, n), n)
	}
	assert.Equal(t, "…", Runes(s, 1))
	for n := -1; n < len(Ellipsis); n++ {
		assert.LessOrEqual(t, len(Within(s, n)), max(n, 0), n)
	}
	assert.Equal(t, "ab", Within(s, 2))
	assert.Equal(t, "…", Within(s, 3))
	assert.Equal(t, "", Within("é", 1), "never inside a rune")
}
