package notify

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/canarykit/canarykit/internal/textcut"
)

// Discord's limits (Execute Webhook and Embed reference).
const (
	discordTitle       = 256
	discordDescription = 4096
	discordFields      = 25
	discordFieldName   = 256
	discordFieldValue  = 1024
	discordUsername    = 80
)

// DiscordConfig configures a Discord notifier.
type DiscordConfig struct {
	// URL is the channel webhook URL (https://discord.com/api/webhooks/<id>/<token>). A URL
	// ending in /slack (Discord's Slack-compatible endpoint, which Flagger uses) is sent
	// Flagger's Slack attachment format instead of embeds. Required.
	URL string
	// Username and AvatarURL override the webhook's defaults.
	Username  string
	AvatarURL string
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
}

// Discord posts notifications as Discord messages with one embed coloured by severity.
type Discord struct {
	cfg   DiscordConfig
	slack bool
	p     poster
}

var _ Notifier = (*Discord)(nil)

// NewDiscord validates cfg and returns a Discord notifier.
func NewDiscord(cfg DiscordConfig) (*Discord, error) {
	var p problems
	d := &Discord{cfg: cfg, p: newPoster("discord", cfg.URL, cfg.Client, false, &p)}
	if len([]rune(cfg.Username)) > discordUsername {
		p.add("Username: at most %d characters", discordUsername)
	}
	if err := p.err("discord"); err != nil {
		return nil, err
	}
	d.slack = strings.HasSuffix(strings.TrimSuffix(d.p.url.Path, "/"), "/slack")
	return d, nil
}

// Notify posts n.
func (d *Discord) Notify(ctx context.Context, n Notification) error {
	if d.slack {
		return d.p.post(ctx, fit(n, DiscordPayloadLimit, func(n Notification) slackMessage {
			return legacySlack(n, d.cfg.Username, d.cfg.AvatarURL)
		}))
	}
	return d.p.post(ctx, fit(n, DiscordPayloadLimit, d.payload))
}

type discordMessage struct {
	Username  string         `json:"username,omitempty"`
	AvatarURL string         `json:"avatar_url,omitempty"`
	Embeds    []discordEmbed `json:"embeds"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
	Footer      *discordFooter `json:"footer,omitempty"`
	Timestamp   string         `json:"timestamp,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

func (d *Discord) payload(n Notification) discordMessage {
	color, _ := strconv.ParseInt(strings.TrimPrefix(severityColor[n.Severity], "#"), 16, 32)
	e := discordEmbed{
		Title:       textcut.Runes(n.Title(), discordTitle),
		Description: textcut.Runes(n.Message, discordDescription),
		Color:       int(color),
		Footer:      &discordFooter{Text: contextLine(n)},
	}
	if at := n.Time(); !at.IsZero() {
		e.Timestamp = at.UTC().Format(time.RFC3339)
	}
	for _, f := range n.Fields[:min(len(n.Fields), discordFields)] {
		name, value := f.Name, f.Value
		if name == "" {
			name = "-"
		}
		if value == "" {
			value = "-"
		}
		e.Fields = append(e.Fields, discordField{Name: textcut.Runes(name, discordFieldName), Value: textcut.Runes(value, discordFieldValue), Inline: true})
	}
	fitEmbed(&e)
	return discordMessage{Username: d.cfg.Username, AvatarURL: d.cfg.AvatarURL, Embeds: []discordEmbed{e}}
}

// discordEmbedTotal is Discord's limit on the characters of an embed's title, description,
// fields and footer together.
const discordEmbedTotal = 6000

// fitEmbed drops fields from the end, then cuts the description, until e is within
// discordEmbedTotal.
func fitEmbed(e *discordEmbed) {
	n := utf8.RuneCountInString
	total := func() int {
		t := n(e.Title) + n(e.Description) + n(e.Footer.Text)
		for _, f := range e.Fields {
			t += n(f.Name) + n(f.Value)
		}
		return t
	}
	for total() > discordEmbedTotal && len(e.Fields) > 0 {
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
	if over := total() - discordEmbedTotal; over > 0 {
		e.Description = textcut.Runes(e.Description, max(1, n(e.Description)-over))
	}
	if over := total() - discordEmbedTotal; over > 0 {
		e.Footer.Text = textcut.Runes(e.Footer.Text, max(1, n(e.Footer.Text)-over))
	}
}
