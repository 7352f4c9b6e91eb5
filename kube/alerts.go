package kube

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// AlertProvider types canarykit can notify (webhook/notify has their formats).
var AlertProviderTypes = []string{"slack", "msteams", "discord", "rocket"}

// AlertProvider is a Flagger AlertProvider (flagger.app/v1beta1): a chat service's incoming
// webhook that a Canary's alerts go to.
type AlertProvider struct {
	Name, Namespace string
	// Type is one of AlertProviderTypes: slack, msteams, discord, rocket (Rocket.Chat, which
	// takes Slack's format).
	Type string
	// Channel and Username override the webhook's defaults where the service honours them.
	Channel, Username string
	// Address is the webhook URL. Required unless SecretRef holds it.
	Address string
	// Proxy is an HTTP(S) proxy URL for the deliveries.
	Proxy string
	// SecretRef names a Secret in the provider's namespace whose keys override the fields
	// above as in Flagger: "address", "proxy", and "token" (a bearer token, e.g. Slack's
	// chat.postMessage).
	SecretRef string
}

// Key is "namespace/name".
func (p AlertProvider) Key() string { return p.Namespace + "/" + p.Name }

// WithSecret returns the provider with its secretRef applied (Address, Proxy) and the token
// the Secret holds, if any. Without a secretRef it returns p unchanged. A Slack provider with a
// token and no address posts with chat.postMessage, as in Flagger.
func (p AlertProvider) WithSecret(ctx context.Context, client kubernetes.Interface) (AlertProvider, string, error) {
	if p.SecretRef == "" {
		return p, "", nil
	}
	s, err := client.CoreV1().Secrets(p.Namespace).Get(ctx, p.SecretRef, metav1.GetOptions{})
	if err != nil {
		return p, "", fmt.Errorf("AlertProvider %s: spec.secretRef: %w", p.Key(), err)
	}
	if v, ok := s.Data["address"]; ok {
		p.Address = string(v)
	}
	if v, ok := s.Data["proxy"]; ok {
		p.Proxy = string(v)
	}
	return p, string(s.Data["token"]), nil
}

// AlertRef is one of a Canary's analysis.alerts: a provider and the lowest severity it gets.
type AlertRef struct {
	// Name identifies the alert.
	Name string
	// Severity is info (everything, the default), warn (warnings and errors) or error.
	Severity string
	// ProviderName and ProviderNamespace name the AlertProvider (namespace defaults to the
	// Canary's, as in Flagger).
	ProviderName, ProviderNamespace string
	// Provider is the resolved provider; nil until CanaryManifest.Resolve.
	Provider *AlertProvider
	// Path is the manifest field, e.g. spec.analysis.alerts[0].providerRef.
	Path string
}

func decodeAlerts(d *decoder, a *object, m *CanaryManifest) {
	for _, ao := range a.list("alerts") {
		ref := AlertRef{Name: ao.str("name"), Severity: ao.str("severity")}
		if ref.Name == "" {
			d.fail(ao.at("name"), "required")
		}
		if slices.ContainsFunc(m.Alerts, func(o AlertRef) bool { return o.Name == ref.Name && ref.Name != "" }) {
			d.fail(ao.at("name"), "duplicate alert %q", ref.Name)
		}
		switch ref.Severity {
		case "":
			ref.Severity = "info"
		case "info", "warn", "error":
		default:
			d.fail(ao.at("severity"), "must be one of info, warn, error; got %q", ref.Severity)
		}
		pr := ao.obj("providerRef")
		ref.Path = pr.path
		ref.ProviderName, ref.ProviderNamespace = pr.str("name"), pr.str("namespace")
		if ref.ProviderName == "" {
			d.fail(pr.at("name"), "required")
		}
		if ref.ProviderNamespace == "" {
			ref.ProviderNamespace = m.Namespace
		}
		pr.done()
		ao.done()
		m.Alerts = append(m.Alerts, ref)
	}
}

func decodeAlertProvider(d *decoder, doc *object) AlertProvider {
	var p AlertProvider
	p.Namespace, p.Name = decodeHeader(d, doc, "AlertProvider")
	spec := doc.obj("spec")
	p.Type = spec.str("type")
	switch {
	case p.Type == "":
		d.fail(spec.at("type"), "required: one of %v", AlertProviderTypes)
	case !slices.Contains(AlertProviderTypes, p.Type):
		d.fail(spec.at("type"), "%s is not supported by canarykit yet (%v)", p.Type, AlertProviderTypes)
	}
	p.Channel, p.Username = spec.str("channel"), spec.str("username")
	p.Address, p.Proxy = spec.str("address"), spec.str("proxy")
	for field, v := range map[string]string{"address": p.Address, "proxy": p.Proxy} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || u.Scheme == "" || u.Host == "" {
			d.fail(spec.at(field), "must be an absolute URL, got %q", v)
		}
	}
	if spec.has("secretRef") {
		ref := spec.obj("secretRef")
		if p.SecretRef = ref.str("name"); p.SecretRef == "" {
			d.fail(ref.at("name"), "required")
		}
		ref.done()
	} else if p.Address == "" {
		d.fail(spec.at("address"), "required: the webhook URL (or a secretRef whose \"address\" key holds it)")
	}
	spec.unsupported("certSecretRef")
	spec.done()
	doc.done()
	return p
}
