package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// FlaggerBinaryPath is where Flagger FlaggerVersion's binary is: $FLAGGER_BIN, else where
// hack/flagger.sh builds it (the user's cache, canarykit/flagger/<version>/flagger). It does
// not look whether it is there.
func FlaggerBinaryPath() (string, error) {
	if p := os.Getenv("FLAGGER_BIN"); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "canarykit", "flagger", FlaggerVersion, "flagger"), nil
}

// FlaggerBinary returns Flagger FlaggerVersion's binary (FlaggerBinaryPath), building it with
// hack/flagger.sh when it is not there (minutes from a cold Go cache, from the Go module
// proxy). A binary that cannot be had skips the test, and fails it when CI=true.
func FlaggerBinary(t testing.TB) string {
	t.Helper()
	bin, err := FlaggerBinaryPath()
	if err == nil {
		if _, err = os.Stat(bin); err == nil {
			return bin
		}
		var script string
		if script, err = findUp(filepath.Join("hack", "flagger.sh")); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, script)
			cmd.Env = append(os.Environ(), "FLAGGER_VERSION="+FlaggerVersion)
			var out []byte
			if out, err = cmd.CombinedOutput(); err != nil {
				err = errors.Join(err, errors.New(string(out)))
			} else {
				_, err = os.Stat(bin)
			}
		}
	}
	if err == nil {
		return bin
	}
	msg := "Flagger " + FlaggerVersion + "'s binary (hack/flagger.sh builds it): " + err.Error()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// findUp finds rel in the working directory or the nearest directory above it that has it.
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New(rel + " not found above the working directory")
		}
		dir = up
	}
}
