package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// waitTimeout bounds the bed's own waits inside a test (namespaces, grants, CRDs); generous,
// since the machine may be busy, and never part of what a test asserts.
const waitTimeout = time.Minute

// Namespace creates a namespace with a unique name derived from the test's name, waits until
// its default ServiceAccount exists (pods can be admitted; not on a bed without
// kube-controller-manager, which admits pods without one), and deletes it when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespaceName(t.Name()),
		Labels: map[string]string{"canarykit.dev/testenv": "true"},
	}}
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		err := e.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	if e.withoutControllerManager {
		return ns.Name
	}
	err := poll(ctx, func(ctx context.Context) (bool, error) {
		_, err := e.client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("wait for the default service account of %s: %v", ns.Name, err)
	}
	return ns.Name
}

// namespaceName turns a test name into a DNS label: lower case, dashes, a random suffix.
func namespaceName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
				b.WriteByte('-')
			}
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	if base == "" || base[0] < 'a' {
		base = "t" + base
	}
	return base + "-" + randomSuffix()
}

// randomSuffix returns six random hex digits.
func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Grant binds rules to user: a Role and RoleBinding in namespace, or a ClusterRole and
// ClusterRoleBinding when namespace is "". It returns once the apiserver's authorizer allows
// the first rule (RBAC caches bindings, so a grant is not in force the moment it is written).
// The objects are deleted when the test ends.
func (e *Env) Grant(t testing.TB, user, namespace string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	if len(rules) == 0 {
		t.Fatal("testenv: Grant needs at least one rule")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	name := "canarykit-grant-" + user + "-" + randomSuffix()
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	rbac := e.client.RbacV1()
	var cleanup func(context.Context) error
	if namespace == "" {
		_, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
		if err == nil {
			_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			}, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("grant %s cluster-wide: %v", user, err)
		}
		cleanup = func(ctx context.Context) error {
			return firstErr(rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}),
				rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}))
		}
	} else {
		_, err := rbac.Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
		if err == nil {
			_, err = rbac.RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			}, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("grant %s in %s: %v", user, namespace, err)
		}
		cleanup = func(ctx context.Context) error {
			return firstErr(rbac.RoleBindings(namespace).Delete(ctx, name, metav1.DeleteOptions{}),
				rbac.Roles(namespace).Delete(ctx, name, metav1.DeleteOptions{}))
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := cleanup(ctx); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("revoke grant %s: %v", name, err)
		}
	})
	if err := e.waitAllowed(ctx, user, namespace, rules[0]); err != nil {
		t.Fatalf("grant to %s not in force: %v", user, err)
	}
}

// waitAllowed polls a SubjectAccessReview for the rule's first verb, group and resource.
func (e *Env) waitAllowed(ctx context.Context, user, namespace string, rule rbacv1.PolicyRule) error {
	attrs := &authorizationv1.ResourceAttributes{Namespace: namespace}
	if len(rule.Verbs) > 0 {
		attrs.Verb = rule.Verbs[0]
	}
	if len(rule.APIGroups) > 0 {
		attrs.Group = rule.APIGroups[0]
	}
	if len(rule.Resources) > 0 {
		res, sub, _ := strings.Cut(rule.Resources[0], "/")
		attrs.Resource, attrs.Subresource = res, sub
	}
	if len(rule.ResourceNames) > 0 {
		attrs.Name = rule.ResourceNames[0]
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: []string{UsersGroup, "system:authenticated"}, ResourceAttributes: attrs,
	}}
	if len(rule.NonResourceURLs) > 0 {
		review.Spec.ResourceAttributes = nil
		review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: rule.NonResourceURLs[0], Verb: attrs.Verb}
	}
	return poll(ctx, func(ctx context.Context) (bool, error) {
		res, err := e.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return res.Status.Allowed, nil
	})
}

// poll calls cond every pollInterval until it reports done, fails, or ctx ends.
func poll(ctx context.Context, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		done, err := cond(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
