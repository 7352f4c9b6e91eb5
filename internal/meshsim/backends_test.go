package meshsim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarykit/canarykit/internal/meshsim"
	"github.com/canarykit/canarykit/internal/testenv/linkerdexp"
)

func TestBackendsFollowTheDeploymentsImage(t *testing.T) {
	b := newBed(t, nil, meshsim.Options{Versions: map[string]meshsim.Behavior{"3.1.1": {ErrorRate: 0.5}}})
	b.deployment(t, "podinfo", "ghcr.io/stefanprodan/podinfo:3.1.0", 2)
	b.service(t, "podinfo", "podinfo")
	eps := b.waitEndpoints(t, "podinfo", "ghcr.io/stefanprodan/podinfo:3.1.0", 2)

	// Every form of the Service's name reaches its pods, round-robin.
	hosts := map[string]int{}
	for _, url := range []string{"http://podinfo.test:9898/", "http://podinfo." + b.ns + ":9898/",
		"http://podinfo.test.svc:9898/", "http://podinfo.test.svc.cluster.local:9898/"} {
		status, body := b.get(t, url)
		require.Equal(t, http.StatusOK, status, url)
		host, version := podinfoAnswer(t, body)
		assert.Equal(t, "3.1.0", version)
		hosts[host]++
	}
	assert.Equal(t, map[string]int{eps[0].Pod: 2, eps[1].Pod: 2}, hosts)

	// A new image: the pods roll over, and the new ones behave as version 3.1.1 does.
	b.setImage(t, "podinfo", "ghcr.io/stefanprodan/podinfo:3.1.1")
	b.waitEndpoints(t, "podinfo", "ghcr.io/stefanprodan/podinfo:3.1.1", 2)
	mark := b.mesh.Traffic()
	statuses := map[int]int{}
	for range 20 {
		status, _ := b.get(t, "http://podinfo.test:9898/")
		statuses[status]++
	}
	assert.Equal(t, map[int]int{200: 10, 500: 10}, statuses, "failures are spread evenly: exactly half")
	assert.Equal(t, map[string]meshsim.Tally{"podinfo": {Requests: 20, Failures: 10}},
		b.mesh.Traffic().Since(mark).ByDeployment("podinfo"))

	// Behaviour changes at run time.
	require.NoError(t, b.mesh.SetVersion("3.1.1", meshsim.Behavior{ErrorRate: 1}))
	status, body := b.get(t, "http://podinfo.test:9898/")
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Contains(t, body, "simulated failure")
	status, _ = b.get(t, "http://podinfo.test:9898/healthz")
	assert.Equal(t, http.StatusOK, status, "probes are not failed")

	// The pods' proxies recorded every answer.
	requests, failures := b.mesh.Exporter().Totals(linkerdexp.Workload{Namespace: b.ns, Deployment: "podinfo"})
	assert.Equal(t, uint64(4+20+2), requests)
	assert.Equal(t, uint64(10+1), failures)
}

func TestProxyFailsLikeLinkerdWhenItCannotForward(t *testing.T) {
	b := newBed(t, nil, meshsim.Options{})
	b.deployment(t, "podinfo", "podinfo:6.0.0", 1)
	b.service(t, "podinfo", "podinfo")
	b.service(t, "nobody", "nothing")
	b.waitEndpoints(t, "podinfo", "podinfo:6.0.0", 1)
	b.waitEndpoints(t, "nobody", "", 0)
	client := b.mesh.Client()

	_, err := client.Get("http://missing.test:9898/")
	assert.ErrorIs(t, err, meshsim.ErrUnknownService)
	_, err = client.Get("http://podinfo.test:80/")
	assert.ErrorIs(t, err, meshsim.ErrNoPort)
	_, err = client.Get("https://podinfo.test:9898/")
	assert.ErrorContains(t, err, "only http")

	// No ready pod: the proxy answers 503 itself, and no pod's proxy records anything.
	resp, err := client.Get("http://nobody.test:9898/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "no ready endpoints for service nobody", resp.Header.Get("l5d-proxy-error"))
	assert.Equal(t, meshsim.Tally{Requests: 1, Failures: 1},
		b.mesh.Traffic().Total(func(k meshsim.Key) bool { return k.Service == "nobody" && k.Deployment == "" }))

	// Scaled to zero: the pods go, and so do the endpoints.
	_, err = b.client.AppsV1().Deployments(b.ns).UpdateScale(context.Background(), "podinfo",
		scale(b.ns, "podinfo", 0), metav1.UpdateOptions{})
	require.NoError(t, err)
	b.waitEndpoints(t, "podinfo", "", 0)
	status, _ := b.get(t, "http://podinfo.test:9898/")
	assert.Equal(t, http.StatusServiceUnavailable, status)

	// Hosts outside the mesh pass through; a closed mesh refuses.
	outside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer outside.Close()
	resp, err = client.Get(outside.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	b.mesh.Close()
	_, err = client.Get("http://podinfo.test:9898/")
	assert.True(t, errors.Is(err, meshsim.ErrClosed), "%v", err)
}

func TestListenAndServeService(t *testing.T) {
	b := newBed(t, nil, meshsim.Options{})
	b.deployment(t, "podinfo-primary", "podinfo:6.0.0", 1)
	b.service(t, "podinfo", "podinfo-primary")
	b.waitEndpoints(t, "podinfo", "podinfo:6.0.0", 1)

	// A loopback listener for tools outside the process.
	url, err := b.mesh.Listen("podinfo", 9898)
	require.NoError(t, err)
	resp, err := http.Get(url + "/version")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, uint64(1), b.mesh.Traffic().Total(nil).Requests)

	// An unmeshed in-cluster service, reachable by name.
	require.NoError(t, b.mesh.ServeService("flagger-loadtester", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Host", r.Host)
		w.WriteHeader(http.StatusTeapot)
	})))
	resp, err = b.mesh.Client().Get("http://flagger-loadtester.test/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, "flagger-loadtester.test", resp.Header.Get("X-Host"))

	// Nothing outlives the mesh.
	b.mesh.Close()
	_, err = http.Get(url + "/version")
	assert.Error(t, err)
}
