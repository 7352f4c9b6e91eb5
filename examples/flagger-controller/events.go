package main

import (
	"github.com/canarykit/canarykit/kube"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
)

// recording is rec writing only the Events that which records (kube.EventRecord).
func recording(which kube.EventRecord, rec record.EventRecorder) record.EventRecorder {
	switch which {
	case kube.RecordNone:
		return filtered{}
	case kube.RecordWarnings:
		return filtered{warnings: rec}
	}
	return rec
}

// filtered is an EventRecorder that passes the Warnings to warnings (nil: none) and drops the
// rest.
type filtered struct{ warnings record.EventRecorder }

func (f filtered) Event(obj runtime.Object, typ, reason, message string) {
	if f.warnings != nil && typ == corev1.EventTypeWarning {
		f.warnings.Event(obj, typ, reason, message)
	}
}

func (f filtered) Eventf(obj runtime.Object, typ, reason, format string, args ...any) {
	if f.warnings != nil && typ == corev1.EventTypeWarning {
		f.warnings.Eventf(obj, typ, reason, format, args...)
	}
}

func (f filtered) AnnotatedEventf(obj runtime.Object, annotations map[string]string, typ, reason, format string, args ...any) {
	if f.warnings != nil && typ == corev1.EventTypeWarning {
		f.warnings.AnnotatedEventf(obj, annotations, typ, reason, format, args...)
	}
}
