// Command embed releases a Flagger Canary from a module of its own: it loads canary.yaml from
// the working directory, places it in $NAMESPACE and drives the target's current revision to
// its end on the cluster of $KUBECONFIG, with the Prometheus at $PROMETHEUS_URL. Exit 1 when
// the revision is rolled back.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/driver"
	"github.com/canarykit/canarykit/kube/flagger"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := must(flagger.LoadCanary(must(os.ReadFile("canary.yaml"))))
	c.Namespace, c.Target.Namespace = os.Getenv("NAMESPACE"), os.Getenv("NAMESPACE")
	cfg := must(clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG")))
	d := must(driver.New(driver.Options{Config: cfg, Prometheus: os.Getenv("PROMETHEUS_URL")}))
	defer d.Close()
	res := must(must(d.Release(ctx, c, func(e canary.Event) { log.Print(e.Message) })).Run(ctx))
	if res.Phase == canary.PhaseFailed {
		log.Fatalf("%s rolled back: %s", c.Target, res.Reason)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}
