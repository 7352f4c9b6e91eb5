package istioapi_test

import (
	"testing"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/mesh/istioapi"
	"github.com/stretchr/testify/assert"
)

// On a VirtualService bound to the mesh, a host is what every sidecar routes by: hosts naming
// other Services of the cluster, or wildcards over them, would take their traffic to the
// target's pods. The apex Service's own names, and names outside the cluster, are kept; on a
// VirtualService bound to gateways only, hosts are what the gateways serve.
func TestHostConflictsOnTheMesh(t *testing.T) {
	for _, tc := range []struct {
		host string
		want string // a part of the problem; "" for none
	}{
		{"podinfo", ""},
		{"podinfo.test.svc.cluster.local", ""},
		{"podinfo.test.svc", ""},
		{"app.example.com", ""},
		{"*.example.com", ""},
		{"othersvc.test", ""}, // a name with dots is a DNS name to Istio, not a Service
		{"*", `"*" on a VirtualService bound to the mesh gateway`},
		{"othersvc", `"othersvc" is the short name of Service test/othersvc, not of the apex Service podinfo`},
		{"othersvc.otherns.svc.cluster.local", `names Service otherns/othersvc, not the apex Service test/podinfo`},
		{"podinfo.otherns.svc.cluster.local", `names Service otherns/podinfo`},
		{"*.svc.cluster.local", `covers the cluster's Services, not only podinfo`},
		{"*.test.svc.cluster.local", `covers the cluster's Services`},
		{"*.cluster.local", `covers the cluster's Services`},
		{"*.local", `covers the cluster's Services`},
	} {
		for _, gateways := range [][]string{nil, {"mesh"}, {"istio-system/public", "mesh"}} {
			p := istioapi.Service{Hosts: []string{"app.example.com", tc.host}, Gateways: gateways}.HostConflicts("test", "podinfo")
			if tc.want == "" {
				assert.Empty(t, p, "%s on %v", tc.host, gateways)
				continue
			}
			if assert.Len(t, p, 1, "%s on %v", tc.host, gateways) {
				assert.Equal(t, "hosts[1]", p[0].Field)
				assert.Contains(t, p[0].Message, tc.want)
			}
		}
		gw := istioapi.Service{Hosts: []string{tc.host}, Gateways: []string{"istio-system/public"}}
		assert.Empty(t, gw.HostConflicts("test", "podinfo"), "%s on a gateway only", tc.host)
	}
	assert.Empty(t, istioapi.Service{Hosts: []string{"podinfo.otherns.svc.cluster.local"}}.HostConflicts("", "podinfo"),
		"the apex's name in a namespace not known yet")
	assert.Equal(t, []canary.FieldError(nil), istioapi.Service{Delegation: true}.HostConflicts("test", "podinfo"))
}
