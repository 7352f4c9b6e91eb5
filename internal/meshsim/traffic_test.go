package meshsim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTrafficSinceAndMix(t *testing.T) {
	var m meter
	// step counts requests under generation gen of a split giving the canary 10·gen percent.
	step := func(gen int64, canary, primary int) {
		r := Route{Kind: KindTrafficSplit, Name: "podinfo", Generation: gen}
		w := float64(gen * 10)
		declared := []backendWeight{{"podinfo-canary", int64(w * 1000)}, {"podinfo-primary", int64((100 - w) * 1000)}}
		for range canary {
			m.add(Key{Service: "podinfo", Route: r, Backend: "podinfo-canary", Weight: w, TotalWeight: 100, Deployment: "podinfo"}, 200, declared)
		}
		for range primary {
			m.add(Key{Service: "podinfo", Route: r, Backend: "podinfo-primary", Weight: 100 - w, TotalWeight: 100, Deployment: "podinfo-primary"}, 200, declared)
		}
	}
	step(1, 10, 90)
	mark := m.snapshot(time.Now())
	step(2, 20, 80)
	step(3, 0, 10) // a data plane that ignores the weights: the canary's 0 shows
	m.add(Key{Service: "podinfo-canary", Backend: "podinfo-canary", Deployment: "podinfo"}, 503, nil)
	now := m.snapshot(time.Now())

	split := func(gen int64) Route { return Route{KindTrafficSplit, "podinfo", gen, 0} }
	assert.Equal(t, []Share{
		{Route: split(1), Backend: "podinfo-canary", Want: 0.1, Got: 0.1, Requests: 10, RouteRequests: 100},
		{Route: split(1), Backend: "podinfo-primary", Want: 0.9, Got: 0.9, Requests: 90, RouteRequests: 100},
		{Route: split(2), Backend: "podinfo-canary", Want: 0.2, Got: 0.2, Requests: 20, RouteRequests: 100},
		{Route: split(2), Backend: "podinfo-primary", Want: 0.8, Got: 0.8, Requests: 80, RouteRequests: 100},
		{Route: split(3), Backend: "podinfo-canary", Want: 0.3, Got: 0, Requests: 0, RouteRequests: 10},
		{Route: split(3), Backend: "podinfo-primary", Want: 0.7, Got: 1, Requests: 10, RouteRequests: 10},
	}, now.Mix("podinfo"))

	since := now.Since(mark)
	assert.Len(t, since.Mix("podinfo"), 4)
	assert.Equal(t, Tally{Requests: 111, Failures: 1}, since.Total(nil))
	assert.Equal(t, map[string]Tally{"podinfo": {Requests: 1, Failures: 1}}, since.ByDeployment("podinfo-canary"))
	assert.Equal(t, map[string]Tally{"podinfo": {Requests: 20}, "podinfo-primary": {Requests: 90}}, since.ByDeployment("podinfo"))
	assert.Equal(t, Tally{Requests: 20}, since.Total(func(k Key) bool { return k.Service == "podinfo" && k.Deployment == "podinfo" }))
	assert.Empty(t, since.Mix("podinfo-canary"), "no route object decided requests to the canary Service")
}
