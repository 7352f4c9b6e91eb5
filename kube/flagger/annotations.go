package flagger

import (
	"slices"
	"strings"

	"github.com/canarykit/canarykit/canary"
)

// AnnotationSplitCheck is the Canary annotation that sets what a weighted release does when the
// canary gets far less traffic than its weight (canary.Spec.SplitCheck): warn, hold, fail or
// off. Absent: hold.
const AnnotationSplitCheck = "canarykit.dev/split-check"

// decodeSplitCheck reads the split-check annotation of a Canary's metadata; the other
// annotations are left alone.
func decodeSplitCheck(d *decoder, meta *object) canary.SplitPolicy {
	anns, _ := meta.m["annotations"].(map[string]any)
	v, ok := anns[AnnotationSplitCheck]
	if !ok {
		return ""
	}
	path := meta.at("annotations") + `["` + AnnotationSplitCheck + `"]`
	s, isString := v.(string)
	policies := canary.SplitPolicies()
	if !isString || !slices.Contains(policies, canary.SplitPolicy(s)) {
		names := make([]string, len(policies))
		for i, p := range policies {
			names[i] = string(p)
		}
		shownValue := "a non-string value"
		if isString {
			shownValue = shown(s)
		}
		d.fail(path, "must be one of %s, got %s", strings.Join(names, ", "), shownValue)
		return ""
	}
	return canary.SplitPolicy(s)
}
