package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/kube"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func leaseAt(name, holder string, renew time.Time, seconds int32, labels, annotations map[string]string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), RenewTime: ptr.To(metav1.NewMicroTime(renew)),
			LeaseDurationSeconds: ptr.To(seconds)}}
}

// A target lease's claim lasts past its own expiry only while the holder lease its annotation
// names is a holder lease, held by the same identity and not expired; the annotation is
// untrusted and names nothing else that is read.
func TestClaimUntil(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	holderLabels := map[string]string{kube.LabelHolder: "true"}
	vouched := map[string]string{kube.AnnotationHolder: "canarykit-holder-ab12"}
	own := now.Add(-time.Minute) // the target lease's own expiry: passed
	target := func(annotations map[string]string) *coordinationv1.Lease {
		return leaseAt("podinfo-canarykit", "one", own.Add(-2*time.Minute), 120, nil, annotations)
	}
	for _, tc := range []struct {
		name    string
		target  *coordinationv1.Lease
		holder  *coordinationv1.Lease // what the getter returns; nil: not found
		getErr  error
		want    time.Time
		wantErr string
		reads   int
	}{
		{name: "own claim live: nothing read", target: leaseAt("t", "one", now, 120, nil, vouched), want: now.Add(2 * time.Minute)},
		{name: "no annotation", target: target(nil), want: own},
		{name: "vouched", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "one", now, 120, holderLabels, nil),
			want: now.Add(2 * time.Minute), reads: 1},
		{name: "holder lease expired too", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "one", now.Add(-3*time.Minute), 120, holderLabels, nil),
			want: own, reads: 1},
		{name: "holder lease of another identity", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "two", now, 120, holderLabels, nil),
			want: own, reads: 1},
		{name: "not a holder lease", target: target(vouched), holder: leaseAt("canarykit-holder-ab12", "one", now, 120, nil, nil),
			want: own, reads: 1},
		{name: "holder lease gone", target: target(vouched), want: own, reads: 1},
		{name: "read fails", target: target(vouched), getErr: errors.New("connection refused"), wantErr: "connection refused", reads: 1},
		{name: "free target lease", target: leaseAt("t", "", own.Add(-2*time.Minute), 120, nil, vouched), want: own},
		{name: "name without the prefix", target: target(map[string]string{kube.AnnotationHolder: "kube-controller-manager"}), want: own},
		{name: "name with a path", target: target(map[string]string{kube.AnnotationHolder: "canarykit-holder-x/../y"}), want: own},
		{name: "name with a dot", target: target(map[string]string{kube.AnnotationHolder: "canarykit-holder-a.b"}), want: own},
		{name: "name too long", target: target(map[string]string{kube.AnnotationHolder: "canarykit-holder-" + strings.Repeat("a", 60)}), want: own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			get := func(_ context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
				reads++
				assert.Equal(t, tc.target.Annotations[kube.AnnotationHolder], name)
				if tc.getErr != nil {
					return nil, tc.getErr
				}
				if tc.holder == nil {
					return nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, name)
				}
				return tc.holder, nil
			}
			got, err := kube.ClaimUntil(context.Background(), get, tc.target, now)
			assert.Equal(t, tc.reads, reads, "holder lease reads")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "want %s, got %s", tc.want, got)
		})
	}
}
