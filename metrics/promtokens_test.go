package metrics

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// promToken is one token of a PromQL query template: a template action, a string literal, a
// name, a number, a two-character operator, or any other single character.
var promToken = regexp.MustCompile(`\{\{.*?\}\}|"(?:[^"\\]|\\.)*"|[A-Za-z_:][A-Za-z0-9_:]*|[0-9]+(?:\.[0-9]+)?|!=|!~|=~|==|>=|<=|\S`)

func tokens(q string) []string { return promToken.FindAllString(q, -1) }

func TestPromTokens(t *testing.T) {
	assert.Equal(t, []string{"sum", "(", "x", "{", "a", "!~", `"5.*"`, "}", "[", "{{ interval }}", "]", ")", "*", "100"},
		tokens("sum(x{a!~\"5.*\"}[{{ interval }}]) *\n 100"))
	assert.NotEqual(t, tokens(`a{b="x y"}`), tokens(`a{b="xy"}`), "spaces inside strings count")
}
