package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// InstallCRDs creates the CRDs, or updates them to the given spec when they exist, and waits
// until each is Established and every served version answers a list request. The apiserver
// holds every create of a custom resource for 2 s while its CRD has been Established for less
// than 2 s (for HA apiservers to catch up); InstallCRDs waits that out, so that the tests'
// first creates are not held. CRDs are
// cluster-wide and stay installed after the test: a test binary that needs one CRD with
// different served versions in different tests must run those tests one after the other.
func InstallCRDs(t testing.TB, cfg *rest.Config, crds ...*apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := installCRDs(ctx, cfg, crds...); err != nil {
		t.Fatal(err)
	}
}

func installCRDs(ctx context.Context, cfg *rest.Config, crds ...*apiextensionsv1.CustomResourceDefinition) error {
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		_, err := api.Create(ctx, crd, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = updateCRD(ctx, client, crd)
		}
		if err != nil {
			return fmt.Errorf("install CRD %s: %w", crd.Name, err)
		}
	}
	var established time.Time
	for _, crd := range crds {
		at, err := waitForCRD(ctx, client, dyn, crd)
		if err != nil {
			return err
		}
		if at.After(established) {
			established = at
		}
	}
	select {
	case <-time.After(time.Until(established.Add(crdCreateHold))):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// crdCreateHold is how long after Established the apiserver delays creates of a CRD's objects.
const crdCreateHold = 2 * time.Second

// updateCRD replaces the spec of an existing CRD.
func updateCRD(ctx context.Context, client apiextensionsclient.Interface, crd *apiextensionsv1.CustomResourceDefinition) error {
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	cur, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Spec = *crd.Spec.DeepCopy()
	for k, v := range crd.Annotations {
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[k] = v
	}
	_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// waitForCRD waits for the Established condition and for each served version to be listable,
// and returns when the CRD became Established.
func waitForCRD(ctx context.Context, client apiextensionsclient.Interface, dyn dynamic.Interface, crd *apiextensionsv1.CustomResourceDefinition) (time.Time, error) {
	var established time.Time
	err := poll(ctx, func(ctx context.Context) (bool, error) {
		cur, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range cur.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				established = c.LastTransitionTime.Time
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return established, fmt.Errorf("wait for CRD %s to be established: %w", crd.Name, err)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural}
		err := poll(ctx, func(ctx context.Context) (bool, error) {
			_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
		if err != nil {
			return established, fmt.Errorf("wait for %s to be served: %w", gvr, err)
		}
	}
	return established, nil
}
