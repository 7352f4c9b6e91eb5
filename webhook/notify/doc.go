// Package notify tells people what a Rollout does: it turns the Rollout's events into alerts
// with Flagger's severities (info, warn, error) and delivers them to Slack, Microsoft Teams,
// Discord, Google Chat or any JSON endpoint, routed by minimum severity like Flagger's alert
// providers.
//
// # Wiring
//
//	d, _ := notify.New(notify.Config{Routes: []notify.Route{
//		{Notifier: slack},                                  // everything
//		{Notifier: pager, MinSeverity: notify.SeverityError}, // rollbacks only
//	}})
//	go d.Run(ctx)
//	cfg.OnEvent = d.OnEvent(cfg.Spec)
//
// The Rollout calls OnEvent handlers synchronously from its own goroutine, so a handler
// must not wait for a chat service (Flagger waits up to 5 s per alert, inside its tick). The
// Dispatcher's handler only queues the alert; Run delivers from a bounded queue (default 100),
// each delivery bounded by Timeout (default 5 s), and a full queue drops the alert, counting
// it in Stats and logging it. A release emits a handful of alerts, so the queue fills only
// when deliveries hang for long; losing an alert then is better than stalling the release.
//
// # Alerts
//
// By default an alert is sent where Flagger sends one: initialization, a new revision, a
// closed confirm gate (once per gate, muted by the hook's MuteAlert), promotion, rollback and
// a failed promotion. Config.Classify replaces that choice (EveryEvent notifies every event).
//
// # Formats
//
//	Slack     text (the notification fallback) + one attachment coloured by severity holding
//	          Block Kit blocks: a mrkdwn section (title, message), sections of up to 10 fields,
//	          a context line. Channel/username/icon overrides as Slack documents them. With
//	          SlackConfig.Attachments (Rocket.Chat), Flagger's one attachment: author, text,
//	          fields.
//	Teams     {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//	          "content":{AdaptiveCard 1.4: Container(title, message), FactSet(fields), TextBlock}}]},
//	          the shape a Teams Workflows webhook accepts (Microsoft's replacement for Office 365
//	          connectors, which Flagger's MessageCard targets; TeamsMessageCard still sends that).
//	Discord   native {"embeds":[{title, description, color, fields (inline, ≤25), footer,
//	          timestamp}]}; a URL ending in /slack gets Flagger's Slack attachment format.
//	GChat     Flagger's Google Chat card {"cards":[{header:{title, subtitle},
//	          sections:[textParagraph per section: the message coloured by severity, each
//	          field (≤98: a card shows 100 widgets), the context line]}]}; no header image
//	          (Flagger's is a favicon on flagger.app, a third party to every reader).
//	JSON      JSONPayload: severity, name, namespace, message, fields and the event (reason,
//	          type, message, phase, weight, failed checks, checks), optionally signed like
//	          webhook requests; a check value that is not a finite number is null.
//
// # Limits
//
// Texts come from events, and events from untrusted places (queries, hook answers): Slack's
// texts are escaped everywhere (&, <, >, so <!channel> is text, not a mention), and so are
// Google Chat's text paragraphs, which Chat reads as HTML (so </font> or <a href> is text, not
// markup; Flagger splices them raw). Every payload is bounded in JSON bytes (TeamsPayloadLimit
// under Teams' 28 KB, GoogleChatPayloadLimit under Google Chat's 32,000 bytes,
// SlackPayloadLimit, DiscordPayloadLimit, JSONPayloadLimit) by cutting the message, field
// values and check texts, then dropping fields and checks, each cut marked "…". Discord
// embeds stay within Discord's 6,000 characters. Deliveries follow redirects only to the same
// scheme, host and port (or from http up to https on the same host), and errors name a webhook by its host only: its path (Slack, Discord) or
// query (Google Chat's key and token) is a credential.
//
// # Refusals
//
// A delivery fails on a status outside 2xx (ErrStatus), and on a 2xx answer that says the
// message was not posted (ErrRefused): Slack's Web API {"ok": false, "error": …}, and a Teams
// connector's "Webhook message delivery failed with error: …" text (HTTP 200 by Microsoft's
// design). Rocket.Chat ({"success": false, …}), Discord and Google Chat refuse with a 4xx
// status; a Teams Workflows webhook answers 202 before its flow runs. The answer is read up to
// 512 bytes, and up to 64 KiB more is drained.
package notify
