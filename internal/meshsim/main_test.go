package meshsim_test

import (
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }
