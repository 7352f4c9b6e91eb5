package loadgen_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/loadgen"
)

// What a failed request's answer puts into the failure's description (here a Location header
// of 256 KiB that does not parse, which Go's client quotes twice) is cut short, in Stats and
// in the error that fails the check.
func TestAHostileAnswerDoesNotBloatTheError(t *testing.T) {
	huge := "http://[" + strings.Repeat("x", 256<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", huge)
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	g := newGen(t, loadgen.Config{URL: srv.URL, Rate: 1000, MaxRequests: 2, MaxErrorRatio: 0.5, MinRequests: 1})
	_, err := allow(t, g)
	require.NoError(t, err)
	require.NoError(t, g.Wait(t.Context()))
	st := g.Stats()
	require.Equal(t, uint64(2), st.Errors)
	assert.Contains(t, st.LastError, "Location")
	assert.LessOrEqual(t, len(st.LastError), 1024)
	ok, err := allow(t, g)
	assert.False(t, ok)
	require.ErrorIs(t, err, loadgen.ErrTooManyErrors)
	assert.LessOrEqual(t, len(err.Error()), 2048)
}
