package metrics

import (
	"strconv"
)

// Fast decoding of the usual answer to an instant query,
//
//	{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1796049712.625,"99.5"]}]}}
//
// or a scalar, in one pass over the body without building a value tree. fastInstant accepts a
// strict subset of JSON answers and says so only when the general decoder (decodeAnswer and
// singleValue) would return the same number; anything else (errors, warnings, several series,
// native histograms, escapes in keys, duplicate or case-variant keys, unusual timestamps) is
// left to the general decoder, which also writes the error messages. FuzzFastInstant checks
// the two against each other.

// maxFastDepth bounds the nesting the fast decoder skips through; deeper answers go to the
// general decoder.
const maxFastDepth = 64

// fastInstant returns the number of a successful instant query answer holding a scalar or a
// vector of exactly one float sample, and whether body was such an answer.
func fastInstant(body []byte) (float64, bool) {
	s := jscan{b: body}
	var status, resultType, result []byte
	var seenStatus, seenData, seenType, seenResult bool
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "status":
			if seenStatus {
				return false
			}
			seenStatus = true
			var ok bool
			status, ok = s.plainString()
			return ok
		case "data":
			if seenData {
				return false
			}
			seenData = true
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "resultType":
					if seenType {
						return false
					}
					seenType = true
					var ok bool
					resultType, ok = s.plainString()
					return ok
				case "result":
					if seenResult {
						return false
					}
					seenResult = true
					start := s.skipWS()
					if !s.skip(1) {
						return false
					}
					result = body[start:s.i]
					return true
				}
				return !foldsTo(key, "resulttype", "result") && s.skip(1)
			})
		}
		// errorType, error and warnings are for the general decoder.
		return !foldsTo(key, "status", "data", "errortype", "error", "warnings") && s.skip(1)
	})
	if !ok || !s.end() || string(status) != "success" || !seenResult {
		return 0, false
	}
	switch string(resultType) {
	case "scalar":
		return samplePair(result)
	case "vector":
		return oneSample(result)
	}
	return 0, false
}

// oneSample decodes a vector of exactly one float sample: [{"metric":{...},"value":[t,"v"]}].
func oneSample(b []byte) (float64, bool) {
	s := jscan{b: b}
	if !s.consume('[') {
		return 0, false
	}
	var value []byte
	var seenMetric, seenValue bool
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "metric":
			if seenMetric {
				return false
			}
			seenMetric = true
			return s.labels()
		case "value":
			if seenValue {
				return false
			}
			seenValue = true
			start := s.skipWS()
			if !s.skip(1) {
				return false
			}
			value = b[start:s.i]
			return true
		}
		// A native histogram sample is for the general decoder.
		return !foldsTo(key, "metric", "value", "histogram") && s.skip(1)
	})
	if !ok || !seenValue || !s.consume(']') || !s.end() {
		return 0, false
	}
	return samplePair(value)
}

// samplePair decodes [t,"v"] with t a plain decimal timestamp and v a number in a string
// without escapes.
func samplePair(b []byte) (float64, bool) {
	s := jscan{b: b}
	if !s.consume('[') {
		return 0, false
	}
	s.skipWS()
	if !s.timestamp() || !s.consume(',') {
		return 0, false
	}
	v, ok := s.plainString()
	if !ok || !s.consume(']') || !s.end() {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// jscan reads JSON from b at i. Every method reports false on anything it does not accept;
// the caller then gives up on the fast path.
type jscan struct {
	b []byte
	i int
}

// skipWS moves past JSON whitespace and returns the position.
func (s *jscan) skipWS() int {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.i
		}
	}
	return s.i
}

// consume skips whitespace and then the byte c.
func (s *jscan) consume(c byte) bool {
	s.skipWS()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (s *jscan) end() bool { return s.skipWS() == len(s.b) }

// object reads an object, calling member with each key (positioned before the value, which
// member must read). Keys must be ASCII without escapes.
func (s *jscan) object(member func(key []byte) bool) bool {
	if !s.consume('{') {
		return false
	}
	if s.consume('}') {
		return true
	}
	for {
		key, ok := s.plainString()
		if !ok || !ascii(key) || !s.consume(':') || !member(key) {
			return false
		}
		if s.consume('}') {
			return true
		}
		if !s.consume(',') {
			return false
		}
	}
}

// labels reads a metric's label set: an object whose keys are label names valid under every
// naming scheme ([a-zA-Z_][a-zA-Z0-9_]*) and whose values are strings.
func (s *jscan) labels() bool {
	return s.object(func(key []byte) bool {
		if !labelName(key) {
			return false
		}
		s.skipWS()
		v, _ := s.str()
		return v != nil
	})
}

// plainString skips whitespace, reads a string without escapes and returns its contents.
func (s *jscan) plainString() ([]byte, bool) {
	s.skipWS()
	v, escaped := s.str()
	if v == nil || escaped {
		return nil, false
	}
	return v, true
}

// str reads a string at i (no whitespace skipped) and returns its raw contents (nil if it is
// not a valid JSON string) and whether it holds escapes.
func (s *jscan) str() (raw []byte, escaped bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i:i], escaped
		case c < 0x20:
			return nil, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(s.b) {
				return nil, false
			}
			switch s.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s.b) {
					return nil, false
				}
				for _, h := range s.b[i+1 : i+5] {
					if !isHex(h) {
						return nil, false
					}
				}
				i += 4
			default:
				return nil, false
			}
		}
	}
	return nil, false
}

// skip reads any JSON value, nested at most maxFastDepth deep.
func (s *jscan) skip(depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	s.skipWS()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		v, _ := s.str()
		return v != nil
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.consume(']') {
				return true
			}
			if !s.consume(',') {
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *jscan) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jscan) number() bool {
	if !s.decimal(-1) {
		return false
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// timestamp reads a sample's time as Prometheus writes it: seconds with an optional fraction,
// -?(0|[1-9][0-9]{0,14})(\.[0-9]+)?, which the general decoder reads without error.
func (s *jscan) timestamp() bool {
	if !s.decimal(15) {
		return false
	}
	// No exponent, and the number must end here.
	return s.i < len(s.b) && !isDigit(s.b[s.i]) && s.b[s.i] != 'e' && s.b[s.i] != 'E' && s.b[s.i] != '.'
}

// decimal reads -?(0|[1-9][0-9]*)(\.[0-9]+)?, with at most maxInt integer digits (-1: any).
func (s *jscan) decimal(maxInt int) bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) || !isDigit(s.b[s.i]) {
		return false
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if n := s.digits(); maxInt >= 0 && n > maxInt {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits skips decimal digits and returns how many.
func (s *jscan) digits() int {
	start := s.i
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
	return s.i - start
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// labelName reports whether b is a label name valid under every naming scheme.
func labelName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i, c := range b {
		if c != '_' && (c|0x20 < 'a' || c|0x20 > 'z') && (i == 0 || !isDigit(c)) {
			return false
		}
	}
	return true
}

// foldsTo reports whether the ASCII key equals one of the lower-case names ignoring case: a
// key the general decoder (encoding/json matches keys without regard to case) would take for
// a known field, so the fast path must not skip it as unknown.
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if len(key) != len(n) {
			continue
		}
		same := true
		for i, c := range key {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != n[i] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}
