package flagger_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/kube/flagger"
)

// spec.autoscalerRef.name names the primary's autoscaler "<name>-primary", an object name of
// at most 253 characters: a name too long for it was taken, and Bootstrap wrote the primary
// and the Services before the API server refused the autoscaler.
func TestRedteamAutoscalerNameTooLongForItsCopy(t *testing.T) {
	for _, kind := range []string{"apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler", "apiVersion: keda.sh/v1alpha1, kind: ScaledObject"} {
		l61 := strings.Repeat("h", 61)
		long := strings.Join([]string{l61, l61, l61, l61}, ".") // 247 characters
		redteamRefused(t, redteamEdit(t, "  metricsServer:", "  autoscalerRef: {"+kind+", name: "+long+"}\n  metricsServer:"),
			"spec.autoscalerRef.name", `"`+long[:20])
		ok := strings.Join([]string{l61, l61, l61, l61[:55]}, ".") // 241
		_, err := flagger.LoadCanary(redteamEdit(t, "  metricsServer:", "  autoscalerRef: {"+kind+", name: "+ok+"}\n  metricsServer:"))
		require.NoError(t, err)
	}
}
