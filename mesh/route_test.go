package mesh

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A JSON pointer token escapes "~" before "/" (RFC 6901), and a token without either is kept.
func TestEscapePointer(t *testing.T) {
	for in, want := range map[string]string{
		"app.kubernetes.io/managed-by": "app.kubernetes.io~1managed-by",
		"a~/b":                         "a~0~1b",
		"~1":                           "~01",
		"plain":                        "plain",
		"":                             "",
	} {
		assert.Equal(t, want, escapePointer(in), "%q", in)
	}
}
