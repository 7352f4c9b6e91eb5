package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// printable returns s with what a terminal would act on instead of showing escaped as Go
// writes it in a string: control characters (escape sequences, carriage returns, line
// breaks: one message stays one line), bidirectional overrides and bytes that are not UTF-8.
// What canaryctl prints comes from manifests, the cluster (a Canary's status, a Lease) and the
// metrics servers' answers, all of which anyone with access to them may have written.
func printable(s string) string {
	i := strings.IndexFunc(s, unprintable)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		_, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unprintable(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// unprintable reports whether printable escapes r: a control character other than a tab, a
// bidirectional control, or an invalid byte (utf8.RuneError).
func unprintable(r rune) bool {
	return (unicode.IsControl(r) && r != '\t') || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError
}
