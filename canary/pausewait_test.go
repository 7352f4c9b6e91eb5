package canary_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A resumed analysis that was waiting out the rest of its interval and is paused before that
// wait begins (here the pause arrives while the tick saves its "resumed" status, with 1 s of
// the interval left) does not keep that rest for later: after Resume, the step taken is
// followed by the next one a whole interval later, not 1 s later.
func TestPauseDuringAResumedWaitKeepsTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := healthyEnv()
		r := bootstrapped(t, env, seedSpec(), "v1") // interval 30 s
		pauseAtWeight10(t, env, r)
		r2, err := env.New(seedSpec())
		require.NoError(t, err)
		r2.Resume() // before Run: the saved pause is overridden, and the release resumes
		first := true
		env.OnCall(func(call string) {
			if call == "Store.Save" && first {
				first = false
				env.Clock.Advance(29 * time.Second) // the resumed interval has 1 s left
				r2.Pause()
			}
		})
		done := start(context.Background(), r2)
		synctest.Wait()
		require.True(t, r2.Paused())
		env.Clock.Advance(time.Minute) // paused for a while
		r2.Resume()
		o := <-done
		require.NoError(t, o.err)
		requirePromoted(t, env, o.res, "v1")
		assert.Equal(t, 30*time.Second, eventTime(t, env, "Advance podinfo.test canary weight 20").
			Sub(eventTime(t, env, "Advance podinfo.test canary weight 15")), "one interval at weight 15")
	})
}
