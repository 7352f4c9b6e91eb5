package kube

import (
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"k8s.io/client-go/kubernetes/fake"
)

// coreWrap is a fake clientset whose core Event and Service clients go through the given
// wrappers (when set): a test holds or counts their calls there, outside the fake's lock (which
// would serialise them).
type coreWrap struct {
	*fake.Clientset
	events   func(typedcorev1.EventInterface) typedcorev1.EventInterface
	services func(typedcorev1.ServiceInterface) typedcorev1.ServiceInterface
}

func (w coreWrap) CoreV1() typedcorev1.CoreV1Interface { return wrappedCore{w.Clientset.CoreV1(), w} }

type wrappedCore struct {
	typedcorev1.CoreV1Interface
	w coreWrap
}

func (c wrappedCore) Events(ns string) typedcorev1.EventInterface {
	if c.w.events == nil {
		return c.CoreV1Interface.Events(ns)
	}
	return c.w.events(c.CoreV1Interface.Events(ns))
}

func (c wrappedCore) Services(ns string) typedcorev1.ServiceInterface {
	if c.w.services == nil {
		return c.CoreV1Interface.Services(ns)
	}
	return c.w.services(c.CoreV1Interface.Services(ns))
}
