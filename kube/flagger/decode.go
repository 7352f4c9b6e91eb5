package flagger

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
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

func (o *object) at(key string) string { return canary.FieldPath(o.path, key) }

// has reports whether key is given a value. A key given null is absent, as Flagger's
// decoding reads it (an omitted field, a nil pointer): has marks it read.
func (o *object) has(key string) bool {
	v, ok := o.m[key]
	if ok && v == nil {
		o.seen[key] = true
	}
	return ok && v != nil
}

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
	f, isNum := 0.0, true
	switch n := v.(type) {
	case float64:
		f = n
	case int64:
		f = float64(n)
	case int:
		f = float64(n)
	case string:
		var err error
		if f, err = strconv.ParseFloat(n, 64); err != nil {
			isNum = false
		}
	default:
		isNum = false
	}
	switch {
	case !isNum:
		o.d.fail(o.at(key), "must be a number")
		return 0
	case math.IsNaN(f) || math.IsInf(f, 0):
		o.d.fail(o.at(key), "must be a finite number, got %v", f)
		return 0
	}
	return f
}

// int reads a whole number that fits in an int32 (the range of Flagger's integer fields).
func (o *object) int(key string) int {
	return int(o.intIn(key, math.MinInt32, math.MaxInt32))
}

// intIn reads a whole number within lo..hi, exactly: never rounded, truncated or wrapped.
func (o *object) intIn(key string, lo, hi int64) int64 {
	v, ok := o.get(key)
	if !ok {
		return 0
	}
	if s, isStr := v.(string); isStr { // a quoted number, as Flagger's string-typed fields allow
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			v = n
		}
	}
	n, exact := exactInt(v)
	switch {
	case !exact:
		o.d.fail(o.at(key), "must be a whole number, got %s", shownValue(v))
		return 0
	case n < lo || n > hi:
		o.d.fail(o.at(key), "must be %d..%d, got %d", lo, hi, n)
		return 0
	}
	return n
}

// seconds reads a whole number of seconds, 0..MaxInt32 (at most 68 years, as in Flagger's int32
// fields), as a duration.
func (o *object) seconds(key string) time.Duration {
	return time.Duration(o.intIn(key, 0, math.MaxInt32)) * time.Second
}

// port reads a port number, 1..65535.
func (o *object) port(key string) int32 {
	return int32(o.intIn(key, 1, 65535))
}

// portOrName reads a port number (1..65535) or an IANA service name (what a Service's
// targetPort may name), as a string. As in an int-or-string, a quoted value is a name: a
// quoted number is refused, since no port name is digits alone.
func (o *object) portOrName(key string) string {
	v, ok := o.get(key)
	if !ok {
		return ""
	}
	if s, isStr := v.(string); isStr {
		if n, err := strconv.ParseUint(s, 10, 16); err == nil && n > 0 {
			o.d.fail(o.at(key), "must be a port number 1..65535 or a port name, got %s: quoted, it is a port name in Flagger's schema (an int-or-string), and a port name needs a letter; write the number unquoted", shown(s))
			return ""
		}
		if !isPortName(s) {
			o.d.fail(o.at(key), "must be a port number 1..65535 or a port name (at most 15 lowercase letters, digits and '-', a letter among them, no \"--\"), got %s", shown(s))
		}
		return s
	}
	return strconv.FormatInt(o.intIn(key, 1, 65535), 10)
}

// portName is an IANA service name, as Kubernetes names container ports.
var portName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// isPortName tells whether s is a port name Kubernetes takes (IANA_SVC_NAME): at most 15
// lowercase letters, digits and '-', a letter among them, no '-' first, last or twice in a row.
func isPortName(s string) bool {
	return portName.MatchString(s) && len(s) <= 15 && !strings.Contains(s, "--") &&
		strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz")
}

// isQualifiedName tells whether s is a Kubernetes qualified name (what a Service port's
// appProtocol must be): an optional lowercase DNS subdomain and '/', then at most 63
// alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric.
func isQualifiedName(s string) bool {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		prefix, name = "", s
	}
	return (!hasPrefix || canary.IsDNSSubdomain(prefix)) && len(name) <= 63 && qualifiedPart.MatchString(name)
}

var qualifiedPart = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// minManifestInterval is the shortest analysis or metric interval a manifest may give.
const minManifestInterval = time.Second

// interval reads a duration of at least minManifestInterval. A zero one ("0s") is refused
// too, not read as absent: only an empty string or null asks for the default.
func (o *object) interval(key string) time.Duration {
	before := len(o.d.problems)
	d := o.duration(key)
	if s, _ := o.m[key].(string); s != "" && len(o.d.problems) == before && d < minManifestInterval {
		o.d.fail(o.at(key), "must be at least %s, got %s (omit it for the default)", minManifestInterval, d)
	}
	return d
}

// httpURL reads an absolute http(s) URL (or, with socks, a SOCKS5 proxy's); a bad one is
// quoted without its credentials or query.
func (o *object) httpURL(key string, socks ...bool) string {
	s := o.str(key)
	if s == "" {
		return ""
	}
	schemes, want := []string{"http", "https"}, "http(s)"
	if len(socks) > 0 && socks[0] {
		schemes, want = append(schemes, "socks5"), "http(s) or socks5"
	}
	if u, err := url.Parse(s); err != nil || !slices.Contains(schemes, u.Scheme) || u.Host == "" {
		o.d.fail(o.at(key), "must be an absolute %s URL, got %s", want, shown(canary.RedactURL(s)))
	}
	return s
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
	switch {
	case err != nil:
		o.d.fail(o.at(key), "must be a duration like 30s or 1m, got %s", shown(s))
	case dur < 0:
		o.d.fail(o.at(key), "must not be negative, got %s", dur)
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
		n, exact := exactInt(it)
		if !exact || n < math.MinInt32 || n > math.MaxInt32 {
			o.d.fail(fmt.Sprintf("%s[%d]", o.at(key), i), "must be a whole number")
			continue
		}
		out[i] = int(n)
	}
	return out
}

// boundedStrs reads a list of at most max strings.
func boundedStrs(o *object, key string, max int) []string {
	v, ok := o.get(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	switch {
	case !isList:
		o.d.fail(o.at(key), "must be a list of strings")
		return nil
	case len(items) > max:
		o.d.fail(o.at(key), "at most %d, got %d", max, len(items))
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, isStr := it.(string)
		if !isStr {
			o.d.fail(fmt.Sprintf("%s[%d]", o.at(key), i), "must be a string")
			continue
		}
		out = append(out, s)
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
		case int64, float64:
			// Refused as the API server's schema refuses it: the text as written is lost (1.10
			// and 0x1F decode to 1.1 and 31), so no string made from it would be the user's.
			o.d.fail(canary.FieldPath(o.at(key), k), "must be a string, got a number (quote it: YAML reads 1.10 as 1.1)")
		case bool:
			o.d.fail(canary.FieldPath(o.at(key), k), "must be a string, got the boolean %v (quote it)", x)
		default:
			o.d.fail(canary.FieldPath(o.at(key), k), "must be a string")
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

// unsupported reports each key given a value other than its zero value as a Flagger field
// canarykit does not support yet. A zero value (false, "", 0, {} or []) asks for what
// Flagger does when the field is omitted, which is what canarykit does: GitOps manifests and
// typed clients write such fields (suspend: false, portDiscovery: false) as a matter of course.
func (o *object) unsupported(keys ...string) {
	for _, k := range keys {
		if !o.has(k) || o.seen[k] {
			continue
		}
		o.seen[k] = true
		if !zeroValue(o.m[k]) {
			o.d.fail(o.at(k), "not supported by canarykit yet")
		}
	}
}

// zeroValue reports whether v, a decoded YAML value, is false, "", 0, an empty mapping or an
// empty list.
func zeroValue(v any) bool {
	switch x := v.(type) {
	case bool:
		return !x
	case string:
		return x == ""
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
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
