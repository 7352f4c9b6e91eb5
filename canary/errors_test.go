package canary_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errRouteOwned = errors.New("route owned by someone else")

func TestIsPermanent(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"canary.Permanent", canary.Permanent(errRouteOwned), true},
		{"backoff.Permanent", backoff.Permanent(errRouteOwned), true},
		{"wrapped canary.Permanent", fmt.Errorf("set weights: %w", canary.Permanent(errRouteOwned)), true},
		{"wrapped backoff.Permanent", fmt.Errorf("set weights: %w", backoff.Permanent(errRouteOwned)), true},
		{"joined", errors.Join(errors.New("other"), canary.Permanent(errRouteOwned)), true},
		{"plain", errRouteOwned, false},
		{"wrapped plain", fmt.Errorf("set weights: %w", errRouteOwned), false},
		{"nil", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, canary.IsPermanent(c.err))
			if c.err != nil {
				assert.ErrorIs(t, c.err, errRouteOwned, "the mark keeps the error it wraps")
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	assert.NoError(t, canary.Permanent(nil))
	err := canary.Permanent(errRouteOwned)
	assert.Equal(t, errRouteOwned.Error(), err.Error(), "the mark does not change the message")
	assert.Same(t, errRouteOwned, errors.Unwrap(err))

	var bp *backoff.PermanentError
	require.ErrorAs(t, err, &bp, "seen as backoff v4's permanent error")
	assert.Same(t, errRouteOwned, bp.Err)
}

// A backoff v4 retry loop stops on canary.Permanent as on its own permanent errors.
func TestPermanentStopsBackoffRetries(t *testing.T) {
	for name, mark := range map[string]func(error) error{
		"canary.Permanent":  canary.Permanent,
		"backoff.Permanent": func(err error) error { return backoff.Permanent(err) },
		"unmarked":          func(err error) error { return err },
	} {
		t.Run(name, func(t *testing.T) {
			attempts := 0
			err := backoff.Retry(func() error {
				attempts++
				return mark(errRouteOwned)
			}, backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 3))
			assert.ErrorIs(t, err, errRouteOwned)
			if name == "unmarked" {
				assert.Equal(t, 4, attempts, "a transient error is retried")
			} else {
				assert.Equal(t, 1, attempts, "a permanent error is not retried")
			}
		})
	}
}

// A permanent adapter error, marked either way, stops Run and routes all traffic back to the
// primary, in one Warning event that names it; a transient one is retried at the next tick and
// the release goes on.
func TestPermanentErrorRoutesTrafficToThePrimary(t *testing.T) {
	for _, c := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"canary.Permanent", canary.Permanent(errRouteOwned), true},
		{"backoff.Permanent", backoff.Permanent(errRouteOwned), true},
		{"transient", errRouteOwned, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := healthyEnv()
			r := bootstrapped(t, env, seedSpec(), "v1")
			env.Events.Then = func(e canary.Event) {
				if e.Message == "Advance podinfo.test canary weight 20" {
					env.Router.Calls.FailNext("SetWeights", 1, c.err)
				}
			}
			res, err := r.Run(context.Background())
			if !c.permanent {
				require.NoError(t, err)
				requirePromoted(t, env, res, "v1")
				return
			}
			var re *canary.RolloutError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "set weights", re.Op)
			assert.Equal(t, 20, re.CanaryWeight, "stopped at the weight it could not leave")
			assert.ErrorIs(t, err, errRouteOwned)
			assert.True(t, canary.IsPermanent(err), "the RolloutError keeps the mark")
			w, _ := env.Router.Current(env.Target)
			assert.Equal(t, canary.AllPrimary(), w)
			assert.Equal(t, canary.PhaseProgressing, res.Phase, "the status stays where the analysis stopped")
			events := env.Events.Events()
			last := events[len(events)-1]
			assert.Equal(t, canary.EventWarning, last.Type)
			assert.Equal(t, canary.ReasonError, last.Reason)
			assert.Contains(t, last.Message, "Routing all traffic to the primary of podinfo.test: the analysis stopped")
			assert.Contains(t, last.Message, errRouteOwned.Error())
			assert.NotContains(t, events[len(events)-2].Message, errRouteOwned.Error(), "the cause said once, with the way back to the primary")
		})
	}
}
