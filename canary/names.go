package canary

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// IsDNSLabel reports whether s is a lowercase RFC 1123 label (a namespace, a Service's name):
// at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit.
func IsDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// IsDNSSubdomain reports whether s is a lowercase RFC 1123 subdomain (an object name, a label
// key's prefix): at most 253 characters, labels separated by dots.
func IsDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !IsDNSLabel(label) {
			return false
		}
	}
	return true
}

// IsHeaderName reports whether s is an HTTP header's name: an RFC 9110 token, 1 or more of
// letters, digits and !#$%&'*+-.^_`|~ (no space, control byte or separator such as ':' or '"'
// that would end the name where a data plane reads it). A method is a token too.
func IsHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// HeaderProblems reports, in name order, the headers of h (an http.Header) that no request can
// carry, at field ("Headers": `Headers: name "a b" is not an HTTP token`,
// `Headers["X-Api-Key"][1]: the value holds …`): net/http refuses to send them, so each request
// would fail as if the server could not be reached. Values are never quoted: they may be
// credentials.
func HeaderProblems(field string, h map[string][]string) []FieldError {
	var out []FieldError
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if !IsHeaderName(k) {
			out = append(out, FieldError{Field: field, Message: fmt.Sprintf("name %q is not an HTTP token", cut(k))})
			continue
		}
		for i, v := range h[k] {
			if !IsHeaderValue(v) {
				out = append(out, FieldError{Field: fmt.Sprintf("%s[%q][%d]", field, k, i), Message: "the value holds a line break or another control character"})
			}
		}
	}
	return out
}

// IsHeaderValue reports whether s may be sent as an HTTP header's value: no line break, no
// other control character but a tab (net/http refuses to send any other, and a CR or LF would
// end the header). A credential read from a file with a trailing newline is not one.
func IsHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
