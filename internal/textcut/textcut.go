// Package textcut shortens untrusted text (a manifest's value, a server's answer, a problem
// quoted in an Event) for messages, logs and terminals: one rule for every package of the
// module. A cut never splits a UTF-8 sequence, so a message made of a cut stays as valid as
// the text it came from, and the mark of a cut is always Ellipsis.
package textcut

import (
	"strconv"
	"unicode/utf8"
)

// Ellipsis marks where text was cut.
const Ellipsis = "…"

// Prefix is s cut to at most n bytes, on a rune boundary, with no mark.
func Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Bytes is s when it has at most n bytes; otherwise its Prefix of n bytes followed by
// Ellipsis.
func Bytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Prefix(s, n) + Ellipsis
}

// Within is s when it has at most n bytes; otherwise its Prefix and Ellipsis in n bytes in
// all (for a field whose size is bounded, such as an Event's message), or its Prefix alone
// when n has no room for Ellipsis.
func Within(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < len(Ellipsis) {
		return Prefix(s, n)
	}
	return Prefix(s, n-len(Ellipsis)) + Ellipsis
}

// Runes is s when it has at most n runes; otherwise its first n-1 runes and Ellipsis, n runes
// in all (for limits counted in characters: a chat service's, a terminal's columns), and ""
// when n is 0 or less.
func Runes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	count := 0
	for i := range s {
		if count == n-1 {
			return s[:i] + Ellipsis
		}
		count++
	}
	return s // not reached: s has more than n runes
}

// Quote is s quoted as Go quotes it (strconv.Quote), cut first to its Prefix of n bytes and
// followed by Ellipsis when cut: the value stays recognisable and its control characters
// escaped.
func Quote(s string, n int) string {
	if len(s) <= n {
		return strconv.Quote(s)
	}
	return strconv.Quote(Prefix(s, n)) + Ellipsis
}
