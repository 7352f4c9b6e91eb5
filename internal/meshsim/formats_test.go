package meshsim

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatsExposition(t *testing.T) {
	f := newFormats("test")
	f.pod("podinfo", "podinfo-canary", 200, 3*time.Millisecond)
	f.pod("podinfo", "podinfo-canary", 200, 30*time.Millisecond)
	f.pod("podinfo-primary", "podinfo-primary", 500, time.Millisecond)
	f.ingress("podinfo", "podinfo-canary", "test-podinfo-canary-9898", 200, 20*time.Millisecond)
	f.ingress("podinfo", "podinfo", "", 200, 2*time.Second)
	var b strings.Builder
	n, err := f.WriteTo(&b)
	require.NoError(t, err)
	out := b.String()
	assert.Equal(t, int64(len(out)), n)
	assert.NotContains(t, out, "# TYPE", "no family metadata: several meshes share one scrape")
	for _, line := range []string{
		`istio_requests_total{reporter="destination",destination_workload="podinfo",destination_workload_namespace="test",destination_service_name="podinfo-canary",destination_service_namespace="test",response_code="200",source_workload="unknown"} 2`,
		`istio_requests_total{reporter="destination",destination_workload="podinfo-primary",destination_workload_namespace="test",destination_service_name="podinfo-primary",destination_service_namespace="test",response_code="500",source_workload="unknown"} 1`,
		`istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="podinfo",destination_workload_namespace="test",destination_service_name="podinfo-canary",destination_service_namespace="test",response_code="200",source_workload="unknown",le="5"} 1`,
		`istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="podinfo",destination_workload_namespace="test",destination_service_name="podinfo-canary",destination_service_namespace="test",response_code="200",source_workload="unknown",le="50"} 2`,
		`nginx_ingress_controller_requests{namespace="test",ingress="podinfo",service="podinfo-canary",canary="test-podinfo-canary-9898",status="200"} 1`,
		`nginx_ingress_controller_requests{namespace="test",ingress="podinfo",service="podinfo",canary="",status="200"} 1`,
		`nginx_ingress_controller_request_duration_seconds_bucket{namespace="test",ingress="podinfo",service="podinfo",canary="",status="200",le="1"} 0`,
		`nginx_ingress_controller_response_duration_seconds_count{namespace="test",ingress="podinfo",service="podinfo",canary="",status="200"} 1`,
	} {
		assert.Contains(t, out, line+"\n")
	}
}
