package testenv_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarykit/canarykit/internal/testenv"
)

// The audit log is not rotated at lumberjack's default 100 MB: requests made after the log
// passed that size are still counted exactly. Each GET carries a 512 KiB query parameter,
// which the log records in both stages, so ~110 requests write past 100 MB in a few seconds.
// A bed of its own, so the shared bed's log stays small.
func TestAuditCountsAreExactPastTheRotationSize(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a test bed")
	}
	env := testenv.Start(t, testenv.Options{Audit: true})
	ctx := context.Background()
	pad := strings.Repeat("x", 512<<10)
	const requests = 110
	log := filepath.Join(env.Dir(), "audit.log")
	mark := env.AuditMark(t)
	for i := range requests {
		err := env.Client().CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces/default").
			Param("pad", pad).Param("i", fmt.Sprint(i)).Do(ctx).Error()
		require.NoError(t, err, "request %d", i)
	}
	events := env.AuditSince(t, mark).ForUser(testenv.AdminUser)
	got := 0
	for _, e := range events {
		if e.Verb == "get" && e.Resource == "namespaces" && e.Name == "default" {
			got++
			assert.Equal(t, 200, e.Code)
		}
	}
	assert.Equal(t, requests, got, "requests counted")
	st, err := os.Stat(log)
	require.NoError(t, err, "the bed's audit log is %s", log)
	assert.Greater(t, st.Size(), int64(100<<20), "the log passed lumberjack's default rotation size in one file")
	rotated, err := filepath.Glob(filepath.Join(env.Dir(), "audit-*.log*"))
	require.NoError(t, err)
	assert.Empty(t, rotated, "rotated files")
}

// The bed holds the Services of 1,000 targets (three each): the apiserver's Service CIDR has
// room for them, and more ClusterIPs than the former /24 held are allocated. (The allocation
// test creates 300 Services, not 3,000: the range's size is read from the apiserver.)
func TestBedHoldsTheServicesOfAThousandTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("uses the test bed")
	}
	env := testenv.Shared(t)
	ctx := context.Background()
	c := env.Client()

	cidr, err := c.NetworkingV1().ServiceCIDRs().Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err, "the default ServiceCIDR the apiserver makes from its flag")
	require.Len(t, cidr.Spec.CIDRs, 1)
	prefix, err := netip.ParsePrefix(cidr.Spec.CIDRs[0])
	require.NoError(t, err)
	assert.Equal(t, testenv.ServiceCIDR, prefix.String())
	usable := 1<<(32-prefix.Bits()) - 2 // network and broadcast addresses
	assert.GreaterOrEqual(t, usable, 3*1000+1, "room for 1,000 targets' Services and the kubernetes Service")

	ns := env.Namespace(t)
	const services = 300 // > 254, all a /24 holds
	ips := make([]string, services)
	errs := make([]error, services)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				svc, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%03d", i)},
					Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
				}, metav1.CreateOptions{})
				if err != nil {
					errs[i] = err
					continue
				}
				ips[i] = svc.Spec.ClusterIP
			}
		}()
	}
	for i := range services {
		work <- i
	}
	close(work)
	wg.Wait()
	seen := map[string]bool{}
	for i := range services {
		require.NoError(t, errs[i], "service %d", i)
		ip, err := netip.ParseAddr(ips[i])
		require.NoError(t, err, "service %d ClusterIP %q", i, ips[i])
		assert.True(t, prefix.Contains(ip), "%s in %s", ip, prefix)
		assert.False(t, seen[ips[i]], "ClusterIP %s allocated twice", ips[i])
		seen[ips[i]] = true
	}
}
