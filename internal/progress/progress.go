package progress

import (
	"fmt"
	"strings"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// Line formats e, prefixed by elapsed (the time since the release started).
func Line(elapsed time.Duration, e canary.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-7s  %s", Elapsed(elapsed), e.Type, e.Message)
	if e.Reason == canary.ReasonAdvanced || e.Reason == canary.ReasonRollingBack || e.Reason == canary.ReasonShifted {
		fmt.Fprintf(&b, "  %s", Bar(e.Weights.Canary))
	}
	if e.Reason == canary.ReasonAdvanced || e.Reason == canary.ReasonHalted || e.Reason == canary.ReasonNoData {
		for _, c := range e.Checks {
			b.WriteString("  " + Check(c))
		}
	}
	return b.String()
}

// Check formats one check result: "request-success-rate 99.95 >= 99".
func Check(c canary.CheckResult) string {
	switch c.Verdict {
	case canary.VerdictPass, canary.VerdictFail:
		return fmt.Sprintf("%s %.2f %s", c.Name, c.Value, c.Threshold)
	}
	return fmt.Sprintf("%s %s", c.Name, strings.ToLower(string(c.Verdict)))
}

// Bar draws a canary weight as twenty cells.
func Bar(weight int) string {
	n := max(0, min(20, weight/5))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + "]"
}

// Elapsed formats d as hh:mm:ss.
func Elapsed(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
