package flagger_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// A MetricTemplate's header names and values were loaded as they were: one net/http cannot
// send passed canaryctl validate, and every query of the release then failed as if Prometheus
// could not be reached. They are refused by path; a value is never quoted (it may be a key).
func TestRedteamMetricTemplateHeadersChecked(t *testing.T) {
	template := func(headers string) []byte {
		return []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t, namespace: test}
spec:
  provider:
    type: prometheus
    address: http://prometheus:9090
    headers: ` + headers + `
  query: up
`)
	}
	for _, c := range []struct{ headers, field, want string }{
		{`{"X Api Key": "s3cret"}`, `spec.provider.headers["X Api Key"]`, `"X Api Key" is not an HTTP header name`},
		{`{"X-Org:": ["s3cret"]}`, `spec.provider.headers["X-Org:"]`, `"X-Org:" is not an HTTP header name`},
		{`{X-Api-Key: "s3cret\n"}`, "spec.provider.headers.X-Api-Key", "holds a line break or another control character, which no request can carry"},
		{`{X-Api-Key: [ok, "s3cret\r\nX-Admin: 1"]}`, "spec.provider.headers.X-Api-Key[1]", "holds a line break or another control character, which no request can carry"},
		{`{X-Api-Key: "s3cret\x7f"}`, "spec.provider.headers.X-Api-Key", "holds a line break or another control character"},
	} {
		t.Run(c.headers, func(t *testing.T) {
			redteamRefused(t, template(c.headers), c.field, c.want)
			_, err := flagger.LoadObjects(template(c.headers))
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
	objs, err := flagger.LoadObjects(template(`{X-Scope-OrgID: "team a\tb", Accept: [application/json]}`))
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"X-Scope-OrgID": {"team a\tb"}, "Accept": {"application/json"}}, objs.MetricTemplates[0].Provider.Headers)
}
