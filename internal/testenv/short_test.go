package testenv_test

import (
	"testing"

	"github.com/canarykit/canarykit/internal/testenv"
)

// Under -short every entry point to the bed skips its test before starting anything, so
// `go test -short ./...` starts no server (CI=true included: -short is asked for explicitly).
func TestShortStartsNoServer(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks what -short does")
	}
	t.Setenv("CI", "true") // a missing binary would fail the test instead of skipping it
	for name, use := range map[string]func(t *testing.T){
		"Shared":           func(t *testing.T) { testenv.Shared(t) },
		"SharedPrometheus": func(t *testing.T) { testenv.SharedPrometheus(t) },
		"Start":            func(t *testing.T) { testenv.Start(t, testenv.Options{}) },
		"StartPrometheus":  func(t *testing.T) { testenv.StartPrometheus(t) },
	} {
		var skipped bool
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			use(t)
			t.Errorf("%s returned a bed under -short", name)
		})
		if !skipped {
			t.Errorf("%s did not skip its test under -short", name)
		}
	}
}
