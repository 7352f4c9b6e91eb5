package canary

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"unicode/utf8"

	"github.com/canarykit/canarykit/internal/textcut"
)

// Bounds on a regular expression from a manifest (a match condition's regex): its text, and
// what it compiles to, so that checking it, and the proxies matching with it, cost little.
const (
	// MaxRegexLen bounds a regular expression's text, in bytes.
	MaxRegexLen = 1024
	// MaxRegexInsts bounds the instructions a regular expression compiles to, reckoned from its
	// parse without compiling it (1 KiB of `\pL{999}` repeated compiles to 127,874 instructions).
	MaxRegexInsts = 1000
)

// maxRegexErrLen bounds the parser's message quoted in CheckRegex's error.
const maxRegexErrLen = 160

// CheckRegex reports why expr is not a bounded RE2 regular expression, or nil: it must parse
// as regexp.Compile parses it, be valid UTF-8, hold at most MaxRegexLen bytes and compile to at
// most MaxRegexInsts instructions.
func CheckRegex(expr string) error {
	if len(expr) > MaxRegexLen {
		return fmt.Errorf("at most %d bytes, got %d", MaxRegexLen, len(expr))
	}
	if !utf8.ValidString(expr) {
		return errors.New("not valid UTF-8")
	}
	re, err := syntax.Parse(expr, syntax.Perl) // as regexp.Compile parses
	if err != nil {
		msg := err.Error() // it quotes the expression's faulty part: cut short
		msg = textcut.Bytes(msg, maxRegexErrLen)
		return fmt.Errorf("not an RE2 regular expression: %s", msg)
	}
	if regexInsts(re) > MaxRegexInsts {
		return fmt.Errorf("too complex: compiles to more than %d instructions", MaxRegexInsts)
	}
	return nil
}

// regexInsts reckons the instructions re compiles to, at most MaxRegexInsts+1: a repetition
// x{n,m} is m copies of x (n when unbounded).
func regexInsts(re *syntax.Regexp) int {
	n := 1
	switch re.Op {
	case syntax.OpLiteral:
		n = len(re.Rune)
	case syntax.OpRepeat:
		times := re.Max
		if times < 0 {
			times = re.Min
		}
		n = regexInsts(re.Sub[0])*max(times, 1) + times
	default:
		for _, sub := range re.Sub {
			n += regexInsts(sub)
		}
	}
	return min(n, MaxRegexInsts+1)
}
