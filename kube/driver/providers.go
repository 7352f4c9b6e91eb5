package driver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/kube/flagger"
	"github.com/canarykit/canarykit/metrics"
	"github.com/canarykit/canarykit/webhook/notify"
)

// prometheus returns the Driver's client for o's server and credentials, building it on first
// use: releases of many targets against one Prometheus share one client (and its
// connections).
func (d *Driver) prometheus(o metrics.PrometheusOptions) (canary.MetricProvider, error) {
	key := promKey(o)
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.proms[key]; ok {
		return p, nil
	}
	o.Logger = d.opts.Logger
	p, err := metrics.NewPrometheus(o)
	if err != nil {
		return nil, err
	}
	d.proms[key] = p
	return p, nil
}

// promKey identifies the settings that make two Prometheus clients different; credentials
// enter hashed.
func promKey(o metrics.PrometheusOptions) string {
	b, _ := json.Marshal(struct {
		Address  string
		Creds    metrics.Credentials
		Headers  http.Header
		Insecure bool
	}{o.Address, o.Credentials, o.Headers, o.InsecureSkipVerify})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// templated returns the Canary's spec with each templated metric bound to its template's own
// Prometheus, and the others to the Canary's (nil when no metric needs it); the built-in
// request-duration check reads it in whole milliseconds (metrics.WholeMilliseconds).
func (d *Driver) templated(ctx context.Context, c *flagger.Canary) (canary.Spec, canary.MetricProvider, error) {
	spec := c.Spec
	spec.Metrics = slices.Clone(c.Spec.Metrics)
	for _, ref := range c.TemplateRefs {
		p, err := d.templateProvider(ctx, ref.Template, spec.Metrics[ref.Metric].EffectiveInterval())
		if err != nil {
			return canary.Spec{}, nil, fmt.Errorf("%s: %w", ref.Path, err)
		}
		spec.Metrics[ref.Metric].Provider = p
	}
	if !slices.ContainsFunc(spec.Metrics, func(m canary.Metric) bool { return m.Provider == nil }) {
		return spec, nil, nil
	}
	p := d.opts.Metrics
	if p == nil {
		addr, field := d.opts.Prometheus, "Options.Prometheus"
		if c.MetricsServer != "" {
			addr, field = c.MetricsServer, "spec.metricsServer"
		}
		if addr == "" {
			return canary.Spec{}, nil, fmt.Errorf("spec.analysis.metrics: a Prometheus address is required (spec.metricsServer or Options.Prometheus)")
		}
		prom, err := d.prometheus(metrics.PrometheusOptions{Address: addr})
		if err != nil {
			return canary.Spec{}, nil, fmt.Errorf("%s: %w", field, err)
		}
		p = prom
	}
	for i, m := range spec.Metrics {
		if m.Provider == nil && m.Query == "" && m.Name == metrics.RequestDuration {
			// Flagger's built-in check, read in whole milliseconds as Flagger reads it
			spec.Metrics[i].Provider = metrics.WholeMilliseconds(p)
		}
	}
	return spec, p, nil
}

// checkers binds the checks canarykit's annotations add to c's analysis: the sequential test
// reads its counts from the Canary's Prometheus. Nil without such checks.
func (d *Driver) checkers(c *flagger.Canary, provider canary.MetricProvider) (map[string]canary.Checker, error) {
	sc := c.Sequential
	if sc == nil {
		return nil, nil
	}
	prom, ok := provider.(*metrics.Prometheus)
	if !ok {
		return nil, fmt.Errorf("%s: the sequential check needs the Canary's Prometheus", sc.Path)
	}
	src, err := metrics.NewPrometheusCounts(prom, metrics.PrometheusCountsOptions{RequestsQuery: sc.RequestsQuery, ErrorsQuery: sc.ErrorsQuery, Clock: d.opts.Clock})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Path, err)
	}
	s, err := metrics.NewSequential(metrics.SequentialOptions{Source: src, Alpha: sc.Alpha, Beta: sc.Beta, Regression: sc.Regression,
		Tolerance: sc.Tolerance, LearningRate: sc.LearningRate, MinSamples: sc.MinSamples, Logger: d.opts.Logger.WithName("sequential")})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sc.Path, err)
	}
	return map[string]canary.Checker{c.Spec.Metrics[sc.Metric].Name: s}, nil
}

// templateProvider is the metrics provider of a MetricTemplate's provider, for a metric of
// the given interval, with the credentials of its secretRef read as Flagger reads them (at
// every release: they may have been rotated).
func (d *Driver) templateProvider(ctx context.Context, t *flagger.MetricTemplate, interval time.Duration) (canary.MetricProvider, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: template not resolved", flagger.ErrNotFound)
	}
	var data map[string][]byte
	if t.Provider.SecretRef != "" {
		var err error
		if data, err = secretData(ctx, d.client, "MetricTemplate", t.Namespace, t.Name, "spec.provider.secretRef", t.Provider.SecretRef); err != nil {
			return nil, err
		}
	}
	var p canary.MetricProvider
	var err error
	switch t.Provider.Type {
	case flagger.MetricProviderDatadog:
		p, err = d.datadogProvider(t, data, interval)
	default:
		p, err = d.prometheusProvider(t, data)
	}
	if err != nil {
		return nil, fmt.Errorf("MetricTemplate %s: %w", t.Key(), err)
	}
	return p, nil
}

// prometheusProvider is the Prometheus client of a template of type prometheus.
func (d *Driver) prometheusProvider(t *flagger.MetricTemplate, secret map[string][]byte) (canary.MetricProvider, error) {
	o := metrics.PrometheusOptions{Address: t.Provider.Address, Headers: http.Header(t.Provider.Headers),
		InsecureSkipVerify: t.Provider.InsecureSkipVerify}
	if t.Provider.SecretRef != "" { // an empty Secret too: its credentials are missing, not none
		var err error
		if o.Credentials, err = metrics.SecretCredentials(secret); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", t.Namespace, t.Provider.SecretRef, err)
		}
	}
	return d.prometheus(o)
}

// The keys of a datadog MetricTemplate's Secret, as Flagger reads them.
const (
	datadogAPIKey         = "datadog_api_key"
	datadogApplicationKey = "datadog_application_key"
)

// datadogProvider is the Datadog client of a template of type datadog for a metric of the
// given interval (Flagger queries ten of them), built once per server, keys, window and TLS
// setting.
func (d *Driver) datadogProvider(t *flagger.MetricTemplate, secret map[string][]byte, interval time.Duration) (canary.MetricProvider, error) {
	o := metrics.DatadogOptions{Address: t.Provider.Address, Window: metrics.DatadogWindow(interval),
		InsecureSkipVerify: t.Provider.InsecureSkipVerify, Clock: d.opts.Clock}
	for _, k := range []struct {
		key string
		to  *string
	}{{datadogAPIKey, &o.APIKey}, {datadogApplicationKey, &o.ApplicationKey}} {
		v, ok := secret[k.key]
		if !ok || len(v) == 0 {
			return nil, fmt.Errorf("secret %s/%s (spec.provider.secretRef): no key %q (datadog needs %s and %s)",
				t.Namespace, t.Provider.SecretRef, k.key, datadogAPIKey, datadogApplicationKey)
		}
		*k.to = string(v)
	}
	key := datadogKey(o)
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.proms[key]; ok {
		return p, nil
	}
	o.Logger = d.opts.Logger
	p, err := metrics.NewDatadog(o)
	if err != nil {
		return nil, err
	}
	d.proms[key] = p
	return p, nil
}

// datadogKey identifies the settings that make two Datadog clients different; the keys enter
// hashed.
func datadogKey(o metrics.DatadogOptions) string {
	b, _ := json.Marshal(struct {
		Kind, Address, APIKey, ApplicationKey string
		Window                                time.Duration
		Insecure                              bool
	}{"datadog", o.Address, o.APIKey, o.ApplicationKey, o.Window, o.InsecureSkipVerify})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// alerts builds the notifications of the Canary's alerts: one route per alert, to its
// provider, from its severity on. Nil without alerts.
func (d *Driver) alerts(ctx context.Context, c *flagger.Canary) (*notify.Dispatcher, error) {
	if len(c.Alerts) == 0 {
		return nil, nil
	}
	var routes []notify.Route
	for _, a := range c.Alerts {
		if a.Provider == nil {
			return nil, fmt.Errorf("%s: %w: provider not resolved", a.Path, flagger.ErrNotFound)
		}
		n, err := d.notifier(ctx, *a.Provider)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Path, err)
		}
		sev, err := notify.ParseSeverity(a.Severity)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Path, err)
		}
		routes = append(routes, notify.Route{Name: a.Name, Notifier: n, MinSeverity: sev})
	}
	return notify.New(notify.Config{Routes: routes, Kind: kindOf(c), Logger: d.opts.Logger.WithName("alerts")})
}

// slackPostMessage is where a Slack AlertProvider with a token and no address posts, as in
// Flagger.
const slackPostMessage = "https://slack.com/api/chat.postMessage"

// notifier is the webhook/notify notifier for an AlertProvider, with its secretRef applied.
func (d *Driver) notifier(ctx context.Context, p flagger.AlertProvider) (notify.Notifier, error) {
	p, token, err := withSecret(ctx, d.client, p)
	if err != nil {
		return nil, err
	}
	client := http.DefaultClient
	if p.Proxy != "" {
		// url.Parse's error would quote the URL whole, the proxy's password included
		u, err := url.Parse(p.Proxy)
		if err != nil || !slices.Contains([]string{"http", "https", "socks5"}, u.Scheme) || u.Host == "" {
			return nil, fmt.Errorf("AlertProvider %s: proxy: must be an absolute http(s) or socks5 URL, got %q", p.Key(), canary.RedactURL(p.Proxy))
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = http.ProxyURL(u)
		client = &http.Client{Transport: t}
	}
	if p.Type == "slack" && p.Address == "" && token != "" {
		if p.Channel == "" {
			return nil, fmt.Errorf("AlertProvider %s: spec.channel: required to post with a token (Slack's chat.postMessage)", p.Key())
		}
		p.Address = slackPostMessage
	}
	if p.Address == "" {
		return nil, fmt.Errorf(`AlertProvider %s: neither spec.address nor the "address" key of its secretRef gives the webhook URL`, p.Key())
	}
	switch p.Format() {
	case flagger.AlertFormatSlack:
		// Rocket.Chat renders Slack's attachments, not Block Kit
		return notify.NewSlack(notify.SlackConfig{URL: p.Address, Token: token, Channel: p.Channel, Username: p.Username,
			Attachments: p.Type == "rocket", Client: client})
	case flagger.AlertFormatTeams:
		return notify.NewTeams(notify.TeamsConfig{URL: p.Address, Client: client})
	case flagger.AlertFormatDiscord:
		return notify.NewDiscord(notify.DiscordConfig{URL: p.Address, Username: p.Username, Client: client})
	case flagger.AlertFormatGoogleChat:
		return notify.NewGoogleChat(notify.GoogleChatConfig{URL: p.Address, Client: client})
	}
	return nil, fmt.Errorf("AlertProvider %s: type %q is not supported (%v)", p.Key(), p.Type, flagger.AlertProviderTypes())
}
