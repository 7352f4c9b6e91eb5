package kedaapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The ScaledObject's API: keda.sh/v1alpha1, kind ScaledObject, resource scaledobjects.
const (
	Group      = "keda.sh"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "ScaledObject"
	Resource   = "scaledobjects"
)

// PausedReplicasAnnotation on a ScaledObject makes KEDA hold its target at the annotation's
// replicas and stop scaling it. Flagger sets it to "0" on the target's ScaledObject while the
// canary is scaled to zero, and removes it when the canary is scaled up.
const PausedReplicasAnnotation = "autoscaling.keda.sh/paused-replicas"

// PausedAnnotation on a ScaledObject ("true") pauses it at its current replicas (KEDA 2.13+).
const PausedAnnotation = "autoscaling.keda.sh/paused"

// Bounds of spec.autoscalerRef.primaryScalerQueries: at most MaxQueries entries, each keyed by
// a trigger name of at most MaxTriggerNameBytes bytes and holding a query of 1 to
// MaxQueryBytes bytes.
const (
	MaxQueries          = 64
	MaxTriggerNameBytes = 253
	MaxQueryBytes       = 16 << 10
)

// Problem is one refused entry of primaryScalerQueries: Key is the trigger name, or "" for
// the map as a whole.
type Problem struct {
	Key, Message string
}

// QueriesProblems checks primaryScalerQueries against the bounds above, in key order.
func QueriesProblems(queries map[string]string) []Problem {
	var out []Problem
	if n := len(queries); n > MaxQueries {
		return []Problem{{Message: fmt.Sprintf("at most %d queries, got %d", MaxQueries, n)}}
	}
	for _, k := range slices.Sorted(maps.Keys(queries)) {
		switch q := queries[k]; {
		case k == "":
			out = append(out, Problem{Key: k, Message: "a trigger name must not be empty"})
		case len(k) > MaxTriggerNameBytes:
			out = append(out, Problem{Key: k, Message: fmt.Sprintf("a trigger name is at most %d bytes, got %d", MaxTriggerNameBytes, len(k))})
		case strings.TrimSpace(q) == "":
			out = append(out, Problem{Key: k, Message: "the query must not be empty"})
		case len(q) > MaxQueryBytes:
			out = append(out, Problem{Key: k, Message: fmt.Sprintf("the query is at most %d bytes, got %d", MaxQueryBytes, len(q))})
		}
	}
	return out
}

// PrimaryQuery is Flagger's rewrite of a trigger's query for the primary's ScaledObject when
// primaryScalerQueries are not given: every "<target>-canary" and then every other "<target>"
// becomes "<target>-primary" (a best effort: a query that names the target otherwise, or
// names "<target>-primary" already, comes out as Flagger makes it, which may not be what was
// meant; primaryScalerQueries say it exactly).
func PrimaryQuery(query, target string) string {
	if target == "" {
		return query
	}
	primary := target + "-primary"
	// a placeholder the query does not hold, so none of it can be taken for the placeholder
	// (Flagger draws ten random letters): a character of the private use area
	r := '\uE000'
	for strings.ContainsRune(query, r) {
		r++
	}
	placeholder := string(r)
	q := strings.ReplaceAll(query, target+"-canary", placeholder)
	q = strings.ReplaceAll(q, target, primary)
	return strings.ReplaceAll(q, placeholder, primary)
}
