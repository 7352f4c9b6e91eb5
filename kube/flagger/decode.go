package flagger

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// objectMetaFields are metadata's fields besides name and namespace: they mean nothing to
// canarykit's reading of a manifest.
var objectMetaFields = []string{"generateName", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields"}

// decoder walks a manifest's generic tree, converting known fields and collecting a problem for
// every unsupported or mistyped one, with its path.
type decoder struct {
	kind     string // the document's kind, for messages; default Canary
	problems []canary.FieldError
}

func (d *decoder) fail(path, format string, args ...any) {
	d.problems = append(d.problems, canary.FieldError{Field: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return &canary.ValidationError{Problems: d.problems}
}

// object is one mapping of the tree and the keys read from it so far.
type object struct {
	d    *decoder
	m    map[string]any
	path string
	seen map[string]bool
}

func (d *decoder) object(v any, path string) *object {
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		d.fail(path, "must be a mapping")
	}
	return &object{d: d, m: m, path: path, seen: map[string]bool{}}
}

func (o *object) at(key string) string { return joinPath(o.path, key) }

// joinPath appends a mapping key to a field path: path.key, or path["key"] (quoted, cut
// short) for a key that is not plain letters, digits and -_./ (a key comes from the manifest).
func joinPath(path, key string) string {
	plain := key != "" && len(key) <= 128
	for _, c := range key {
		if !plain {
			break
		}
		plain = c < 0x80 && (c == '-' || c == '_' || c == '.' || c == '/' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
	}
	switch {
	case !plain:
		return path + "[" + shown(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

func (o *object) has(key string) bool { _, ok := o.m[key]; return ok }

func (o *object) get(key string) (any, bool) {
	o.seen[key] = true
	v, ok := o.m[key]
	return v, ok && v != nil
}

func (o *object) keys() []string {
	var ks []string
	for k := range o.m {
		ks = append(ks, k)
		o.seen[k] = true
	}
	slices.Sort(ks)
	return ks
}

func (o *object) obj(key string) *object { v, _ := o.get(key); return o.d.object(v, o.at(key)) }

func (o *object) str(key string) string {
	v, ok := o.get(key)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		o.d.fail(o.at(key), "must be a string")
	}
	return s
}

func (o *object) float(key string) float64 {
	v, ok := o.get(key)
	if !ok {
		return 0
	}
	switch n := v.(type) {
	case float64:
		return n
	case string:
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			return f
		}
	}
	o.d.fail(o.at(key), "must be a number")
	return 0
}

func (o *object) int(key string) int {
	f := o.float(key)
	if f != math.Trunc(f) {
		o.d.fail(o.at(key), "must be a whole number, got %v", f)
	}
	return int(f)
}

func (o *object) bool(key string) bool {
	v, ok := o.get(key)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		o.d.fail(o.at(key), "must be true or false")
	}
	return b
}

func (o *object) duration(key string) time.Duration {
	s := o.str(key)
	if s == "" {
		return 0
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		o.d.fail(o.at(key), "must be a duration like 30s or 1m, got %q", s)
	}
	return dur
}

func (o *object) ints(key string) []int {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		o.d.fail(o.at(key), "must be a list of numbers")
		return nil
	}
	out := make([]int, len(items))
	for i, it := range items {
		f, isNum := it.(float64)
		if !isNum || f != math.Trunc(f) {
			o.d.fail(fmt.Sprintf("%s[%d]", o.at(key), i), "must be a whole number")
		}
		out[i] = int(f)
	}
	return out
}

func (o *object) list(key string) []*object {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		o.d.fail(o.at(key), "must be a list")
		return nil
	}
	out := make([]*object, len(items))
	for i, it := range items {
		out[i] = o.d.object(it, fmt.Sprintf("%s[%d]", o.at(key), i))
	}
	return out
}

func (o *object) strMap(key string) map[string]string {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		o.d.fail(o.at(key), "must be a mapping of strings")
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		switch x := val.(type) {
		case string:
			out[k] = x
		case float64, bool:
			out[k] = fmt.Sprint(x)
		default:
			o.d.fail(joinPath(o.at(key), k), "must be a string")
		}
	}
	return out
}

// ignore marks keys as read without using them (they mean nothing to canarykit).
func (o *object) ignore(keys ...string) {
	for _, k := range keys {
		o.seen[k] = true
	}
}

// unsupported reports each present key as a Flagger field canarykit does not support yet.
func (o *object) unsupported(keys ...string) {
	for _, k := range keys {
		if o.has(k) && !o.seen[k] {
			o.seen[k] = true
			o.d.fail(o.at(k), "not supported by canarykit yet")
		}
	}
}

// done reports every key nobody read as unknown.
func (o *object) done() {
	var rest []string
	for k := range o.m {
		if !o.seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		kind := o.d.kind
		if kind == "" {
			kind = "Canary"
		}
		o.d.fail(o.at(k), "unknown field (not a Flagger %s field canarykit knows)", kind)
	}
}
