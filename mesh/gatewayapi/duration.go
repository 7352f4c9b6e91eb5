package gatewayapi

import (
	"fmt"
	"strings"
)

// Group is Gateway API's group: the HTTPRoute's, and a parentRef's default.
const Group = "gateway.networking.k8s.io"

// maxShown is how much of a refused value an error quotes.
const maxShown = 64

// DurationProblem says why s is not a Gateway API Duration (GEP-2257: one to four groups of
// 1 to 5 digits and a unit h, m, s or ms, as in 1h30m or 500ms), or "".
func DurationProblem(s string) string {
	rest, groups := s, 0
	for rest != "" && groups <= 4 {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n > 5 {
			break
		}
		rest = rest[n:]
		switch {
		case strings.HasPrefix(rest, "ms"):
			rest = rest[2:]
		case rest != "" && strings.ContainsRune("hms", rune(rest[0])):
			rest = rest[1:]
		default:
			return notDuration(s)
		}
		groups++
	}
	if s == "" || rest != "" || groups > 4 {
		return notDuration(s)
	}
	return ""
}

func notDuration(s string) string {
	return fmt.Sprintf("%s is not a Gateway API duration (up to four groups of 1-5 digits and a unit h, m, s or ms, e.g. 1m30s or 500ms)", quote(s))
}
