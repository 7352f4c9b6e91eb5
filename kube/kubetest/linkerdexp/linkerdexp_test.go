package linkerdexp_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/kube/kubetest/linkerdexp"
	"github.com/stretchr/testify/assert"
)

// The public names serve the bed's exporter: a recorded request is a Linkerd series.
func TestPublicExporterServesLinkerdSeries(t *testing.T) {
	exp := linkerdexp.New(linkerdexp.Options{})
	w := linkerdexp.Workload{Namespace: "shop", Deployment: "checkout"}
	exp.Record(w, "checkout-0", 503, 20*time.Millisecond)
	rec := httptest.NewRecorder()
	exp.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	assert.True(t, strings.Contains(body, `deployment="checkout",pod="checkout-0",classification="failure"} 1`+"\n"), body)
	requests, failures := exp.Totals(w)
	assert.Equal(t, [2]uint64{1, 1}, [2]uint64{requests, failures})
	assert.Equal(t, 50000.0, linkerdexp.BucketsMs()[len(linkerdexp.BucketsMs())-1])
}
