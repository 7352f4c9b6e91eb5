package driver

import (
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
)

// The bed records an audit log: the idle target's requests are counted from it.
func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{Audit: true}) }
