package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/canarykit/canarykit/internal/textcut"
)

// Severity colours, Slack's good/warning/danger palette.
var severityColor = map[Severity]string{SeverityInfo: "#2eb886", SeverityWarn: "#daa038", SeverityError: "#a30200"}

// Slack's limits (Block Kit reference).
const (
	slackSectionText = 3000
	slackFieldText   = 2000
	slackFields      = 10
)

// SlackConfig configures a Slack notifier.
type SlackConfig struct {
	// URL is an incoming webhook URL (https://hooks.slack.com/services/...), or
	// https://slack.com/api/chat.postMessage with Token and Channel. Required.
	URL string
	// Token, if set, is sent as a bearer token (for chat.postMessage).
	Token string
	// Channel, Username, IconEmoji and IconURL override the webhook's defaults. Slack honours
	// them for chat.postMessage and legacy webhooks; app webhooks post as the app to their
	// channel.
	Channel   string
	Username  string
	IconEmoji string
	IconURL   string
	// Attachments posts one legacy attachment (author, text, fields: Flagger's format) in
	// place of Block Kit blocks, for Slack-compatible services that render no blocks, such as
	// Rocket.Chat (an AlertProvider of type rocket): they would show only the fallback text.
	Attachments bool
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
}

// Slack posts notifications as Slack messages: a plain "text" (the notification fallback)
// and one attachment coloured by severity whose Block Kit blocks hold the title, the message,
// the fields (as section fields) and a context line.
type Slack struct {
	cfg SlackConfig
	p   poster
}

var _ Notifier = (*Slack)(nil)

// NewSlack validates cfg and returns a Slack notifier.
func NewSlack(cfg SlackConfig) (*Slack, error) {
	var p problems
	s := &Slack{cfg: cfg, p: newPoster("slack", cfg.URL, cfg.Client, false, &p)}
	s.p.refused = slackRefusal
	if cfg.IconEmoji != "" && cfg.IconURL != "" {
		p.add("IconEmoji and IconURL: set one of them")
	}
	if err := p.err("slack"); err != nil {
		return nil, err
	}
	if cfg.Token != "" {
		s.p.header = http.Header{"Authorization": {"Bearer " + cfg.Token}}
	}
	return s, nil
}

// Notify posts n.
func (s *Slack) Notify(ctx context.Context, n Notification) error {
	if s.cfg.Attachments {
		return s.p.post(ctx, fit(n, SlackPayloadLimit, func(n Notification) slackMessage {
			m := legacySlack(n, s.cfg.Username, s.cfg.IconURL)
			m.Channel, m.IconEmoji = s.cfg.Channel, s.cfg.IconEmoji
			return m
		}))
	}
	return s.p.post(ctx, fit(n, SlackPayloadLimit, s.payload))
}

type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	IconURL     string            `json:"icon_url,omitempty"`
	Text        string            `json:"text,omitempty"`
	Attachments []slackAttachment `json:"attachments,omitempty"`
}

type slackAttachment struct {
	Color    string       `json:"color"`
	Fallback string       `json:"fallback,omitempty"`
	Blocks   []slackBlock `json:"blocks,omitempty"`
	// Legacy attachment fields, for Slack-compatible endpoints without Block Kit.
	AuthorName string       `json:"author_name,omitempty"`
	Text       string       `json:"text,omitempty"`
	MrkdwnIn   []string     `json:"mrkdwn_in,omitempty"`
	Fields     []slackField `json:"fields,omitempty"`
	Footer     string       `json:"footer,omitempty"`
	Ts         int64        `json:"ts,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func (s *Slack) payload(n Notification) slackMessage {
	fallback := textcut.Runes(escape(n.Title()+": "+n.Message), slackSectionText)
	blocks := []slackBlock{{Type: "section", Text: mrkdwn(textcut.Runes("*"+escape(n.Title())+"*\n"+escape(n.Message), slackSectionText))}}
	for start := 0; start < len(n.Fields); start += slackFields {
		var fs []slackText
		for _, f := range n.Fields[start:min(start+slackFields, len(n.Fields))] {
			fs = append(fs, *mrkdwn(textcut.Runes("*"+escape(f.Name)+"*\n"+escape(f.Value), slackFieldText)))
		}
		blocks = append(blocks, slackBlock{Type: "section", Fields: fs})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{*mrkdwn(escape(contextLine(n)))}})
	return slackMessage{
		Channel: s.cfg.Channel, Username: s.cfg.Username, IconEmoji: s.cfg.IconEmoji, IconURL: s.cfg.IconURL,
		Text:        fallback,
		Attachments: []slackAttachment{{Color: severityColor[n.Severity], Fallback: fallback, Blocks: blocks}},
	}
}

// legacySlack is the message in Slack's legacy attachment format (Flagger's), for
// Slack-compatible endpoints that do not render Block Kit, such as Discord's /slack and
// Rocket.Chat.
func legacySlack(n Notification, username, iconURL string) slackMessage {
	fs := make([]slackField, len(n.Fields))
	for i, f := range n.Fields {
		fs[i] = slackField{Title: f.Name, Value: f.Value}
	}
	return slackMessage{
		Username: username, IconURL: iconURL,
		Attachments: []slackAttachment{{
			Color: severityColor[n.Severity], Fallback: n.Title() + ": " + n.Message,
			AuthorName: n.Title(), Text: n.Message, MrkdwnIn: []string{"text"}, Fields: fs,
			Footer: "canarykit · " + n.Severity.String(), Ts: unixOrZero(n.Time()),
		}},
	}
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func mrkdwn(s string) *slackText { return &slackText{Type: "mrkdwn", Text: s} }

// escape applies Slack's text escaping (&, <, >), which is also HTML's for text (Google
// Chat's cards).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// contextLine is the small print under a notification: severity, phase, reason.
func contextLine(n Notification) string {
	parts := []string{"canarykit", n.Severity.String()}
	if n.Event.Phase != "" {
		parts = append(parts, string(n.Event.Phase))
	}
	if n.Event.Reason != "" {
		parts = append(parts, string(n.Event.Reason))
	}
	return strings.Join(parts, " · ")
}

// slackRefusal reads the start of a 2xx answer: Slack's Web API (chat.postMessage) answers
// 200 with {"ok": false, "error": "<code>"} to a message it did not post; incoming webhooks
// answer "ok". The excerpt may be cut: the members before the cut are read.
func slackRefusal(excerpt string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(excerpt))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	refused, why := false, ""
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			break
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		switch t {
		case "ok":
			refused = string(v) == "false"
		case "error":
			_ = json.Unmarshal(v, &why)
		}
	}
	return textcut.Runes(why, 200), refused
}
