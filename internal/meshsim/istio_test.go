package meshsim

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The VirtualService Flagger writes for seed 003's frontend A/B test: Firefox users and the
// insider cookie to the canary, everyone else to the primary.
const vsABTest = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: podinfo, namespace: test, generation: 4, uid: vs1}
spec:
  hosts: [podinfo]
  http:
  - match:
    - headers: {user-agent: {regex: ".*Firefox.*"}}
    - headers: {cookie: {regex: "^(.*?;)?(type=insider)(;.*)?$"}}
    route:
    - {destination: {host: podinfo-primary}, weight: 0}
    - {destination: {host: podinfo-canary}, weight: 100}
  - route:
    - {destination: {host: podinfo-primary}, weight: 100}
    - {destination: {host: podinfo-canary}, weight: 0}
`

func TestVirtualServiceABMatches(t *testing.T) {
	tab := compile(t, tableInput{vss: objects(t, vsABTest)}, nil)
	assert.Equal(t, map[string]int{"podinfo-canary": 10}, send(tab, "podinfo", 10, get("/", "User-Agent", "Mozilla/5.0 (X11; Linux) Gecko/20100101 Firefox/121.0")))
	assert.Equal(t, map[string]int{"podinfo-canary": 10}, send(tab, "podinfo", 10, get("/", "Cookie", "type=insider; lang=en")))
	assert.Equal(t, map[string]int{"podinfo-canary": 10}, send(tab, "podinfo", 10, get("/", "Cookie", "lang=en;type=insider")))
	// the seed's expression matches the whole header: after "; " (a space, as browsers join
	// cookies) it does not match, in Envoy as here
	assert.Equal(t, map[string]int{"podinfo-primary": 10}, send(tab, "podinfo", 10, get("/", "Cookie", "lang=en; type=insider")))
	assert.Equal(t, map[string]int{"podinfo-primary": 10}, send(tab, "podinfo", 10, get("/", "User-Agent", "curl/8.5")))
	assert.Equal(t, map[string]int{"podinfo-primary": 10}, send(tab, "podinfo", 10, get("/", "Cookie", "type=insiders")))
	assert.Equal(t, map[string]int{"podinfo-primary": 10}, send(tab, "podinfo", 10, get("/")))
	// a Service the VirtualService does not name is not routed by it
	assert.Equal(t, map[string]int{"podinfo-canary": 3}, send(tab, "podinfo-canary", 3, get("/", "User-Agent", "curl")))
}

func TestVirtualServiceWeightsAndStringMatches(t *testing.T) {
	tab := compile(t, tableInput{vss: objects(t, `
kind: VirtualService
metadata: {name: podinfo, uid: vs2, generation: 2}
spec:
  hosts: [podinfo.test.svc.cluster.local]
  gateways: [public-gateway, mesh]
  http:
  - match: [{headers: {x-canary: {exact: insider}}}]
    route: [{destination: {host: podinfo-canary.test.svc.cluster.local}}]
  - match: [{headers: {x-user: {prefix: beta-}}}]
    route: [{destination: {host: podinfo-canary}, weight: 100}]
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: podinfo-primary}, weight: 50}, {destination: {host: podinfo-canary}, weight: 50}]
  - route: [{destination: {host: podinfo-primary}, weight: 80}, {destination: {host: podinfo-canary}, weight: 20}]
`)}, nil)
	assert.Equal(t, map[string]int{"podinfo-canary": 4}, send(tab, "podinfo", 4, get("/", "X-Canary", "insider")))
	assert.Equal(t, map[string]int{"podinfo-primary": 80, "podinfo-canary": 20}, send(tab, "podinfo", 100, get("/", "X-Canary", "insiders")))
	assert.Equal(t, map[string]int{"podinfo-canary": 4}, send(tab, "podinfo", 4, get("/", "X-User", "beta-7")))
	assert.Equal(t, map[string]int{"podinfo-primary": 5, "podinfo-canary": 5}, send(tab, "podinfo", 10, get("/api/v1")))
	assert.Equal(t, map[string]int{"podinfo-primary": 80, "podinfo-canary": 20}, send(tab, "podinfo", 100, get("/")))

	// bound to a gateway only: the sidecars do not route by it
	tab = compile(t, tableInput{vss: objects(t, `
kind: VirtualService
metadata: {name: public}
spec:
  hosts: [podinfo]
  gateways: [public-gateway]
  http: [{route: [{destination: {host: podinfo-canary}}]}]
`)}, nil)
	assert.Equal(t, map[string]int{"podinfo": 3}, send(tab, "podinfo", 3, get("/")))
}
