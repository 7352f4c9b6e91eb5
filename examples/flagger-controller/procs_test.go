package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --gomaxprocs: 1 unless given; a GOMAXPROCS variable is kept unless the flag is given; 0
// leaves Go's default; below 0 refused.
func TestMaxProcs(t *testing.T) {
	for _, c := range []struct {
		flag     int
		explicit bool
		env      string
		want     int
	}{
		{DefaultMaxProcs, false, "", 1},
		{DefaultMaxProcs, false, "4", 0},
		{2, true, "4", 2},
		{0, true, "", 0},
		{3, true, "", 3},
	} {
		got, err := maxProcs(c.flag, c.explicit, c.env)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%+v", c)
	}
	_, err := maxProcs(-1, true, "")
	require.ErrorContains(t, err, "--gomaxprocs=-1")
}
