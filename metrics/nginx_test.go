package metrics

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// Flagger's built-in NGINX queries as Flagger v1.44 writes them (pkg/metrics/observers/
// nginx.go), whitespace and all.
const (
	flaggerNGINXSuccessRate = `
	sum(
		rate(
			nginx_ingress_controller_requests{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!="",
				status!~"5.*"
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			nginx_ingress_controller_requests{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	* 100`
	flaggerNGINXDuration = `
	sum(
		rate(
			nginx_ingress_controller_response_duration_seconds_sum{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	/ 
	sum(
		rate(
			nginx_ingress_controller_response_duration_seconds_count{
				namespace="{{ namespace }}",
				ingress="{{ ingress }}",
				canary!=""
			}[{{ interval }}]
		)
	) 
	* 1000`
)

func TestNGINXQueriesAreFlaggers(t *testing.T) {
	assert.Len(t, NGINX(), 2)
	for name, flagger := range map[string]string{RequestSuccessRate: flaggerNGINXSuccessRate, RequestDuration: flaggerNGINXDuration} {
		got, want := tokens(NGINX()[name]), tokens(flagger)
		require.NotEmpty(t, want)
		assert.Equal(t, want, got, name)
	}
	m := NGINX()
	m[RequestSuccessRate] = "vector(0)"
	assert.Equal(t, tokens(flaggerNGINXSuccessRate), tokens(NGINX()[RequestSuccessRate]), "a change to one map is not seen by the next caller")
}

// {{ ingress }} is the target's Ingress (a Canary's ingressRef), not the target.
func TestNGINXQueriesRender(t *testing.T) {
	tgt := canary.Target{Namespace: "test", Name: "podinfo", Ingress: "public"}
	q, err := canary.RenderQuery(NGINX()[RequestSuccessRate], canary.VarsFor(tgt, canary.Metric{Interval: 30 * time.Second}))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="public",canary!="",status!~"5.*"}[30s]))`+
		` / sum(rate(nginx_ingress_controller_requests{namespace="test",ingress="public",canary!=""}[30s])) * 100`, q)
	q, err = canary.RenderQuery(NGINX()[RequestDuration], canary.VarsFor(tgt, canary.Metric{}))
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(nginx_ingress_controller_response_duration_seconds_sum{namespace="test",ingress="public",canary!=""}[1m]))`+
		` / sum(rate(nginx_ingress_controller_response_duration_seconds_count{namespace="test",ingress="public",canary!=""}[1m])) * 1000`, q)
}
