package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/canarykit/canarykit/internal/textcut"
)

// TeamsFormat is the message format a Teams endpoint accepts.
type TeamsFormat string

// Teams formats.
const (
	// TeamsAdaptiveCard is a message with one Adaptive Card (schema 1.4) attachment: what a
	// Teams Workflows "When a Teams webhook request is received" flow accepts, Microsoft's
	// documented replacement for Office 365 connectors.
	TeamsAdaptiveCard TeamsFormat = "AdaptiveCard"
	// TeamsMessageCard is the legacy Office 365 connector card Flagger sends, for connectors
	// that still run. Workflows do not accept it.
	TeamsMessageCard TeamsFormat = "MessageCard"
)

// TeamsConfig configures a Microsoft Teams notifier.
type TeamsConfig struct {
	// URL is the Workflows webhook URL (or a legacy connector's). Required.
	URL string
	// Format is the message format. Default TeamsAdaptiveCard.
	Format TeamsFormat
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
}

// Teams posts notifications to Microsoft Teams.
type Teams struct {
	format TeamsFormat
	p      poster
}

var _ Notifier = (*Teams)(nil)

// NewTeams validates cfg and returns a Teams notifier.
func NewTeams(cfg TeamsConfig) (*Teams, error) {
	var p problems
	t := &Teams{format: cfg.Format, p: newPoster("msteams", cfg.URL, cfg.Client, false, &p)}
	t.p.refused = teamsRefusal
	if t.format == "" {
		t.format = TeamsAdaptiveCard
	}
	if t.format != TeamsAdaptiveCard && t.format != TeamsMessageCard {
		p.add("Format: must be %s or %s, got %q", TeamsAdaptiveCard, TeamsMessageCard, cfg.Format)
	}
	if err := p.err("msteams"); err != nil {
		return nil, err
	}
	return t, nil
}

// Notify posts n.
func (t *Teams) Notify(ctx context.Context, n Notification) error {
	if t.format == TeamsMessageCard {
		return t.p.post(ctx, fit(n, TeamsPayloadLimit, messageCard))
	}
	return t.p.post(ctx, fit(n, TeamsPayloadLimit, adaptiveMessage))
}

// Adaptive Card colours and container styles by severity.
var (
	cardColor = map[Severity]string{SeverityInfo: "Good", SeverityWarn: "Warning", SeverityError: "Attention"}
	cardStyle = map[Severity]string{SeverityInfo: "good", SeverityWarn: "warning", SeverityError: "attention"}
)

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string         `json:"$schema"`
	Type    string         `json:"type"`
	Version string         `json:"version"`
	Body    []cardElement  `json:"body"`
	MSTeams map[string]any `json:"msteams,omitempty"`
}

// cardElement is a TextBlock, FactSet or Container.
type cardElement struct {
	Type     string        `json:"type"`
	Text     string        `json:"text,omitempty"`
	Weight   string        `json:"weight,omitempty"`
	Size     string        `json:"size,omitempty"`
	Color    string        `json:"color,omitempty"`
	Wrap     bool          `json:"wrap,omitempty"`
	IsSubtle bool          `json:"isSubtle,omitempty"`
	Style    string        `json:"style,omitempty"`
	Facts    []cardFact    `json:"facts,omitempty"`
	Items    []cardElement `json:"items,omitempty"`
}

type cardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

func adaptiveMessage(n Notification) teamsMessage {
	head := cardElement{Type: "Container", Style: cardStyle[n.Severity], Items: []cardElement{
		{Type: "TextBlock", Text: n.Title(), Weight: "Bolder", Size: "Medium", Color: cardColor[n.Severity], Wrap: true},
		{Type: "TextBlock", Text: n.Message, Wrap: true},
	}}
	body := []cardElement{head}
	if len(n.Fields) > 0 {
		facts := make([]cardFact, len(n.Fields))
		for i, f := range n.Fields {
			facts[i] = cardFact{Title: f.Name, Value: f.Value}
		}
		body = append(body, cardElement{Type: "FactSet", Facts: facts})
	}
	body = append(body, cardElement{Type: "TextBlock", Text: contextLine(n), IsSubtle: true, Size: "Small", Wrap: true})
	return teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content: adaptiveCard{
			Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4",
			Body: body, MSTeams: map[string]any{"width": "Full"},
		},
	}}}
}

// MessageCard theme colours by severity.
var themeColor = map[Severity]string{SeverityInfo: "0076D7", SeverityWarn: "FFA500", SeverityError: "FF0000"}

type legacyCard struct {
	Type       string           `json:"@type"`
	Context    string           `json:"@context"`
	ThemeColor string           `json:"themeColor"`
	Summary    string           `json:"summary"`
	Sections   []messageSection `json:"sections"`
}

type messageSection struct {
	ActivityTitle    string         `json:"activityTitle"`
	ActivitySubtitle string         `json:"activitySubtitle"`
	Facts            []messageFacts `json:"facts,omitempty"`
}

type messageFacts struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func messageCard(n Notification) legacyCard {
	facts := make([]messageFacts, len(n.Fields))
	for i, f := range n.Fields {
		facts[i] = messageFacts(f)
	}
	return legacyCard{
		Type: "MessageCard", Context: "http://schema.org/extensions", ThemeColor: themeColor[n.Severity],
		Summary:  fmt.Sprintf("%s: %s", n.Title(), n.Message),
		Sections: []messageSection{{ActivityTitle: n.Message, ActivitySubtitle: n.Title(), Facts: facts}},
	}
}

// teamsFailed starts the text an Office 365 connector (a legacy Teams Incoming Webhook)
// answers with HTTP 200 to a message Teams did not take: "Webhook message delivery failed
// with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId …" (400, 403 and
// 429 likewise). Microsoft keeps the 200 by design (MicrosoftDocs/msteams-docs#1810, #4145).
const teamsFailed = "webhook message delivery failed"

// teamsRefusal reads the start of a 2xx answer: a connector answers "1" to a message it
// posted and the teamsFailed text to one it did not. A Workflows webhook answers 202 without
// a body, whatever its flow does later: nothing in its answer is a refusal.
func teamsRefusal(excerpt string) (string, bool) {
	if len(excerpt) < len(teamsFailed) || !strings.EqualFold(excerpt[:len(teamsFailed)], teamsFailed) {
		return "", false
	}
	return textcut.Runes(excerpt, 200), true
}
