package driver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
)

// The Promoted condition's messages name the target's kind as Flagger's do
// (spec.targetRef.kind): a DaemonSet's Canary reads "DaemonSet initialization completed.",
// not "Deployment …"; the Stalled condition of a failed analysis names it too. A
// Deployment's keep their wording.
func TestConditionMessagesNameTheTargetsKind(t *testing.T) {
	for _, tc := range []struct {
		kind string // flagger.Workload.Kind: "" for a Deployment
		name string // as the messages name it
	}{{kind: "", name: "Deployment"}, {kind: "DaemonSet", name: "DaemonSet"}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newStoreBed()
			_, lease := b.store(t, "a")
			c := &flagger.Canary{Name: "podinfo", Namespace: "ns", Target: b.target, Workload: flagger.Workload{Kind: tc.kind}}
			d := &Driver{opts: Options{CanaryStatus: true, Clock: b.clock}}
			s, ok := d.store(c, nil, lease).(*CanaryStore)
			require.True(t, ok, "with Options.CanaryStatus the status is kept on the Canary")
			s.api, s.tracked = dynCanaries{res: b.canaries}, nil // the bed's Canary, no configs
			ctx := context.Background()
			st, err := s.Load(ctx, b.target)
			require.NoError(t, err)

			conditionsAt := func(p canary.Phase) map[string]flaggerCondition {
				t.Helper()
				st.Phase, st.LastTransitionTime = p, b.clock.Now()
				st, err = s.Save(ctx, b.target, st)
				require.NoError(t, err)
				fs, err := decodeStatus(b.canaries.obj.Object)
				require.NoError(t, err)
				out := map[string]flaggerCondition{}
				for _, c := range fs.Conditions {
					out[c.Type] = c
				}
				return out
			}
			assert.Equal(t, "New "+tc.name+" detected, starting initialization.", conditionsAt(canary.PhaseInitializing)[ConditionPromoted].Message)
			assert.Equal(t, tc.name+" initialization completed.", conditionsAt(canary.PhaseInitialized)[ConditionPromoted].Message)
			assert.Equal(t, "New revision detected, progressing canary analysis.", conditionsAt(canary.PhaseProgressing)[ConditionPromoted].Message)
			failed := conditionsAt(canary.PhaseFailed)
			assert.Equal(t, "Canary analysis failed, "+tc.name+" scaled to zero.", failed[ConditionPromoted].Message)
			assert.Equal(t, "Canary analysis failed, "+tc.name+" scaled to zero.", failed[ConditionStalled].Message)
		})
	}
}
