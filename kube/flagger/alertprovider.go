package flagger

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// AlertFormat is the payload format an AlertProvider's service takes; webhook/notify has a
// notifier for each.
type AlertFormat string

// The alert formats canarykit sends.
const (
	AlertFormatSlack      AlertFormat = "slack"   // Slack's incoming webhooks and chat.postMessage
	AlertFormatTeams      AlertFormat = "teams"   // Microsoft Teams (an Adaptive Card)
	AlertFormatDiscord    AlertFormat = "discord" // Discord's webhooks
	AlertFormatGoogleChat AlertFormat = "gchat"   // Google Chat's incoming webhooks (a card)
)

// alertProviderFormats are the AlertProvider types canarykit can notify, each with the format
// its service takes: a type whose service takes a format canarykit has is one line here.
var alertProviderFormats = map[string]AlertFormat{
	"slack":   AlertFormatSlack,
	"rocket":  AlertFormatSlack, // Rocket.Chat's incoming webhooks take Slack's format
	"msteams": AlertFormatTeams,
	"discord": AlertFormatDiscord,
	"gchat":   AlertFormatGoogleChat,
}

// alertProviderTypes are alertProviderFormats' keys, sorted.
var alertProviderTypes = slices.Sorted(maps.Keys(alertProviderFormats))

// AlertProviderTypes returns the AlertProvider types canarykit can notify.
func AlertProviderTypes() []string { return slices.Clone(alertProviderTypes) }

// Format is the payload format of the provider's type ("" for a type canarykit cannot notify,
// which loading refuses).
func (p AlertProvider) Format() AlertFormat { return alertProviderFormats[p.Type] }

// AlertProvider is a Flagger AlertProvider (flagger.app/v1beta1): a chat service's incoming
// webhook that a Canary's alerts go to.
type AlertProvider struct {
	Name, Namespace string
	// Type is one of AlertProviderTypes(): slack, msteams, discord, gchat (Google Chat),
	// rocket (Rocket.Chat, which takes Slack's format).
	Type string
	// Channel and Username go with every alert of the types whose payload carries them, as
	// in Flagger: both for slack and rocket, Username for discord (a Discord webhook posts to
	// its own channel). Loading fills in Flagger's defaults, DefaultAlertChannel and
	// DefaultAlertUsername, where the manifest gives none; msteams and gchat alerts carry
	// neither, and loading refuses them there.
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

// AlertRef is one of a Canary's analysis.alerts: a provider and the lowest severity it gets.
type AlertRef struct {
	// Name identifies the alert.
	Name string
	// Severity is info (everything, the default, as Flagger's documentation has it: Flagger
	// v1.44 itself sends an alert without a severity nothing, and loading notes it), warn
	// (warnings and errors) or error.
	Severity string
	// ProviderName and ProviderNamespace name the AlertProvider (namespace defaults to the
	// Canary's, as in Flagger: see CanaryNamespace).
	ProviderName, ProviderNamespace string
	// CanaryNamespace: the manifest gave no providerRef.namespace, so the AlertProvider is in
	// the Canary's namespace wherever the Canary is: Resolve sets ProviderNamespace to
	// Canary.Namespace as it is then, as MetricTemplateRef.CanaryNamespace does.
	CanaryNamespace bool
	// Provider is the resolved provider; nil until Canary.Resolve.
	Provider *AlertProvider
	// Path is the manifest field, e.g. spec.analysis.alerts[0].providerRef.
	Path string
}

func decodeAlerts(d *decoder, a *object, m *Canary) {
	for _, ao := range a.list("alerts") {
		ref := AlertRef{Name: ao.str("name"), Severity: ao.str("severity")}
		if ref.Name == "" {
			d.fail(ao.at("name"), "required")
		}
		if slices.ContainsFunc(m.Alerts, func(o AlertRef) bool { return o.Name == ref.Name && ref.Name != "" }) {
			d.fail(ao.at("name"), "duplicate alert %s", shown(ref.Name))
		}
		switch ref.Severity {
		case "":
			// Flagger's documentation says info; its code matches the empty severity against
			// each alert's and sends none (pkg/controller/events.go)
			ref.Severity = "info"
			m.Notes = append(m.Notes, fmt.Sprintf("%s is not set: canarykit sends this alert every event from info on, as Flagger's documentation says; Flagger v1.44 sends it none (set severity: info to have both agree)", ao.at("severity")))
		case "info", "warn", "error":
		default:
			d.fail(ao.at("severity"), "must be one of info, warn, error; got %s", shown(ref.Severity))
		}
		pr := ao.obj("providerRef")
		ref.Path = pr.path
		// the namespace defaults to the Canary's, as in Flagger
		ref.ProviderName, ref.ProviderNamespace = pr.name("name", true), pr.namespace("namespace", m.Namespace)
		ref.CanaryNamespace = pr.str("namespace") == "" // the Canary's, wherever it is placed
		pr.done()
		ao.done()
		m.Alerts = append(m.Alerts, ref)
	}
}

// Flagger's channel and username for the alerts of an AlertProvider that gives none.
const (
	DefaultAlertChannel  = "general"
	DefaultAlertUsername = "flagger"
)

// alertIdentity gives p Flagger's channel and username where its type's payload carries them
// and the manifest gives none, and refuses them where the type's alerts carry none: Flagger's
// msteams and gchat alerts have neither, and a Discord webhook posts to its own channel.
func alertIdentity(d *decoder, spec *object, p *AlertProvider) {
	switch p.Format() {
	case AlertFormatSlack:
		p.Channel = cmp.Or(p.Channel, DefaultAlertChannel)
		p.Username = cmp.Or(p.Username, DefaultAlertUsername)
	case AlertFormatDiscord:
		if p.Channel != "" {
			d.fail(spec.at("channel"), "discord does not use it: a Discord webhook posts to its own channel, whatever Flagger sends; leave it out")
			p.Channel = ""
		}
		p.Username = cmp.Or(p.Username, DefaultAlertUsername)
	case AlertFormatTeams, AlertFormatGoogleChat:
		if p.Channel != "" {
			d.fail(spec.at("channel"), "%s does not use it: Flagger's %s alerts carry no channel (the webhook posts to its own); leave it out", p.Type, p.Type)
			p.Channel = ""
		}
		if p.Username != "" {
			d.fail(spec.at("username"), "%s does not use it: Flagger's %s alerts carry no username; leave it out", p.Type, p.Type)
			p.Username = ""
		}
	}
}

func decodeAlertProvider(d *decoder, doc *object) AlertProvider {
	var p AlertProvider
	p.Namespace, p.Name = decodeHeader(d, doc, "AlertProvider")
	spec := doc.obj("spec")
	p.Type = spec.str("type")
	switch {
	case p.Type == "":
		d.fail(spec.at("type"), "required: one of %v", alertProviderTypes)
	case !slices.Contains(alertProviderTypes, p.Type):
		d.fail(spec.at("type"), "%s is not supported by canarykit yet (%v)", word(p.Type), alertProviderTypes)
	}
	p.Channel, p.Username = spec.str("channel"), spec.str("username")
	alertIdentity(d, spec, &p)
	p.Address, p.Proxy = spec.httpURL("address"), spec.httpURL("proxy", true)
	if spec.has("secretRef") {
		ref := spec.obj("secretRef")
		p.SecretRef = ref.name("name", true) // a Secret's name, checked before its lookup
		ref.done()
	} else if p.Address == "" {
		d.fail(spec.at("address"), "required: the webhook URL (or a secretRef whose \"address\" key holds it)")
	}
	spec.unsupported("certSecretRef")
	spec.done()
	doc.done()
	return p
}
