package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stubAssets makes a KUBEBUILDER_ASSETS directory whose kube-apiserver and etcd are scripts;
// kube-apiserver --version prints version (no kube-apiserver when version is "").
func stubAssets(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	if version != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, binAPIServer), []byte("#!/bin/sh\necho 'Kubernetes "+version+"'\n"), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, binEtcd), []byte("#!/bin/sh\necho 'etcd Version: 3.6.0'\n"), 0o755))
	return dir
}

func TestMinorOf(t *testing.T) {
	for v, want := range map[string]string{
		"v1.34.4": "v1.34", "v1.34.0-rc.1": "v1.34", "v1.9.0": "v1.9", "1.34.4": "", "v1.34": "", "v.1.2": "", "vx.34.1": "", "": "",
	} {
		assert.Equal(t, want, minorOf(v), v)
	}
}

func TestAssetsFitOnTheMinorVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		fit     bool
	}{
		{KubernetesVersion, true},
		{minorOf(KubernetesVersion) + ".0", true}, // another patch of the same minor
		{"v1.33.7", false},
		{"v1.35.0", false},
		{"garbage", false},
		{"", false}, // no kube-apiserver at all
	} {
		ok, why := AssetsFit(stubAssets(t, c.version))
		assert.Equal(t, c.fit, ok, "%s: %s", c.version, why)
		assert.NotEmpty(t, why)
	}
}

// With fitting assets the bed runs their etcd and kube-apiserver, and still its own
// kube-controller-manager; with assets of another minor it ignores them.
func TestLookPathPrefersFittingAssets(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(DirEnv, cache)
	bin, err := BinDir()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(bin, 0o755))
	for _, n := range []string{binAPIServer, binControllerManager} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\n"), 0o755))
	}

	fit := stubAssets(t, minorOf(KubernetesVersion)+".1")
	t.Setenv(AssetsEnv, fit)
	for name, want := range map[string]string{
		binAPIServer:         filepath.Join(fit, binAPIServer),
		binEtcd:              filepath.Join(fit, binEtcd),
		binControllerManager: filepath.Join(bin, binControllerManager),
	} {
		got, err := lookPath(name)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}

	t.Setenv(AssetsEnv, stubAssets(t, "v1.31.0"))
	got, err := lookPath(binAPIServer)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(bin, binAPIServer), got, "assets of another minor are not used")
}
