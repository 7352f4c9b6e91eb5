//go:build scale

package scale

import (
	"context"
	"os"
	"strings"

	"github.com/canarykit/canarykit/internal/testenv"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// canarykitAgent is the user agent of the driver's requests.
const canarykitAgent = "canarykit-scale"

// inProcess is canarykit's driver in the harness' own process: its CPU and RSS figures
// include the bed's in-process stand-ins (kubelet, Linkerd-format exporter).
type inProcess struct{ limiter *CountingLimiter }

func (p *inProcess) pid() int { return os.Getpid() }

func (p *inProcess) mine(e testenv.AuditEvent) bool {
	return strings.HasPrefix(e.UserAgent, canarykitAgent)
}

func (p *inProcess) throttled() int64 { return p.limiter.Waited() }

// canarykit drives every Canary of the namespace with one driver's Targets, as
// examples/flagger-controller does (status kept on the Canary objects).
func (r *run) canarykit() releaser {
	cfg := rest.CopyConfig(r.env.Config())
	cfg.UserAgent = canarykitAgent
	q, burst := driver.RateLimit(*rollouts, interval) // the driver sized for the run
	if *defaultQPS {
		q, burst = driver.DefaultQPS, driver.DefaultBurst
	}
	if *qps > 0 {
		q, burst = float32(*qps), int(2**qps)
	}
	p := &inProcess{limiter: NewCountingLimiter(q, burst)}
	cfg.RateLimiter = p.limiter
	d, err := driver.New(driver.Options{Config: cfg, Prometheus: r.prom.URL, CanaryStatus: true, Identity: "scale",
		Targets: *rollouts, Interval: interval})
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	targets := d.Targets(nil)
	r.t.Cleanup(func() {
		cancel()
		targets.StopAll()
		d.Close()
	})
	list, err := r.dyn.Resource(canaries).Namespace(r.ns).List(ctx, metav1.ListOptions{})
	require.NoError(r.t, err)
	for _, u := range list.Items {
		cn, err := flagger.CanaryFromObject(u.Object)
		require.NoError(r.t, err, u.GetName())
		_, _, err = targets.Apply(ctx, u.GetNamespace()+"/"+u.GetName(), cn)
		require.NoError(r.t, err, u.GetName())
	}
	return p
}
