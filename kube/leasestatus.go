package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/canarykit/canarykit/canary"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The rollout status a Lease keeps in its annotations (canary.StatusStore).

// Load returns the status stored in the lease (the zero Status when none). It reads the
// lease from the API server unless this driver holds it.
func (l *Lease) Load(ctx context.Context, t canary.Target) (canary.Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(t); err != nil {
		return canary.Status{}, err
	}
	obj := l.obj
	if !l.held {
		cur, err := l.leases().Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return canary.Status{}, nil
		}
		if err != nil {
			return canary.Status{}, fmt.Errorf("get lease %s: %w", l.name, err)
		}
		obj = cur
	}
	return statusOf(obj)
}

func statusOf(obj *coordinationv1.Lease) (canary.Status, error) {
	var s canary.Status
	if raw := obj.Annotations[AnnotationStatus]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return canary.Status{}, fmt.Errorf("lease %s/%s: annotation %s: %w", obj.Namespace, obj.Name, AnnotationStatus, err)
		}
	}
	s.Version = obj.Annotations[AnnotationStatusVersion]
	return s, nil
}

// Save stores s in the lease if s.Version is the stored version, renewing the claim in the
// same write. It fails unless this driver holds the lease.
func (l *Lease) Save(ctx context.Context, t canary.Target, s canary.Status) (canary.Status, error) {
	defer l.deliver()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(t); err != nil {
		return canary.Status{}, err
	}
	if !l.held {
		return canary.Status{}, fmt.Errorf("%w: lease %s is not held by %q; acquire it before saving", canary.ErrConflict, l.name, l.opts.Identity)
	}
	cur := l.obj.Annotations[AnnotationStatusVersion]
	if s.Version != cur {
		return canary.Status{}, fmt.Errorf("%w: status of %s saved at version %q, stored version is %q", canary.ErrConflict, t, s.Version, cur)
	}
	n, _ := strconv.Atoi(cur)
	next := strconv.Itoa(n + 1)
	raw, err := json.Marshal(s)
	if err != nil {
		return canary.Status{}, err
	}
	_, err = l.write(ctx, func(u *coordinationv1.Lease) {
		if u.Annotations == nil {
			u.Annotations = map[string]string{}
		}
		u.Annotations[AnnotationStatus] = string(raw)
		u.Annotations[AnnotationStatusVersion] = next
	}, l.opts.Clock.Now())
	if errors.Is(err, ErrLeaseLost) {
		return canary.Status{}, fmt.Errorf("%w: %w", canary.ErrConflict, err)
	}
	if err != nil {
		return canary.Status{}, err
	}
	s.Version = next
	return s, nil
}

// ClearStatus removes the status stored in the lease, if any, renewing the claim in the same
// write: a status store that keeps the status elsewhere calls it once it has written there
// what it read from the lease, so nothing stale is read back later. It fails unless this
// driver holds the lease.
func (l *Lease) ClearStatus(ctx context.Context, t canary.Target) error {
	defer l.deliver()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(t); err != nil {
		return err
	}
	if !l.held {
		return fmt.Errorf("%w: lease %s is not held by %q; acquire it before clearing its status", canary.ErrConflict, l.name, l.opts.Identity)
	}
	if _, ok := l.obj.Annotations[AnnotationStatus]; !ok {
		return nil
	}
	_, err := l.write(ctx, func(u *coordinationv1.Lease) { delete(u.Annotations, AnnotationStatus) }, l.opts.Clock.Now())
	if errors.Is(err, ErrLeaseLost) {
		return fmt.Errorf("%w: %w", canary.ErrConflict, err)
	}
	return err
}

func (l *Lease) check(t canary.Target) error {
	if t.Namespace != l.opts.Target.Namespace || t.Name != l.opts.Target.Name {
		return fmt.Errorf("kube: lease for %s used for %s", l.opts.Target, t)
	}
	return nil
}
