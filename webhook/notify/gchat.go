package notify

import (
	"context"
	"net/http"
	"strings"
)

// Google Chat's limits: a card shows at most 100 widgets and ignores the rest; the message's
// own bound is GoogleChatPayloadLimit.
const googleChatWidgets = 100

// googleChatGrey is the colour of the small print, Flagger's.
const googleChatGrey = "#848484"

// GoogleChatConfig configures a Google Chat notifier.
type GoogleChatConfig struct {
	// URL is a space's incoming webhook URL
	// (https://chat.googleapis.com/v1/spaces/<space>/messages?key=<key>&token=<token>). Its
	// query holds the webhook's credentials: messages show only its host, and a redirect to
	// another host, or from https down to http, is refused. Required.
	URL string
	// Client sends the requests. Default http.DefaultClient.
	Client *http.Client
}

// GoogleChat posts notifications to a Google Chat space as Flagger's gchat provider does: one
// card whose header names the release and whose text paragraphs hold the message (coloured
// by severity) and each field, plus a context line.
type GoogleChat struct {
	p poster
}

var _ Notifier = (*GoogleChat)(nil)

// NewGoogleChat validates cfg and returns a Google Chat notifier.
func NewGoogleChat(cfg GoogleChatConfig) (*GoogleChat, error) {
	var p problems
	g := &GoogleChat{p: newPoster("gchat", cfg.URL, cfg.Client, false, &p)}
	if err := p.err("gchat"); err != nil {
		return nil, err
	}
	return g, nil
}

// Notify posts n.
func (g *GoogleChat) Notify(ctx context.Context, n Notification) error {
	return g.p.post(ctx, fit(n, GoogleChatPayloadLimit, googleChatMessage))
}

// googleChat is a message with one card in Google Chat's card format (the "cards" field),
// the one Flagger sends; like Flagger's, it has no text outside the card.
type googleChat struct {
	Cards []googleChatCard `json:"cards"`
}

type googleChatCard struct {
	Header   googleChatHeader    `json:"header"`
	Sections []googleChatSection `json:"sections"`
}

// googleChatHeader carries no image: Flagger's points at flagger.app's favicon, which every
// reader's client would load from a third party. Chat documents no markup in headers; the
// subtitle (the target, Kubernetes names) is escaped all the same, which leaves such names
// as they are.
type googleChatHeader struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle"`
}

type googleChatSection struct {
	Widgets []googleChatWidget `json:"widgets"`
}

type googleChatWidget struct {
	TextParagraph googleChatText `json:"textParagraph"`
}

// googleChatText is a text paragraph: Chat reads it as a subset of HTML.
type googleChatText struct {
	Text string `json:"text"`
}

func googleChatMessage(n Notification) googleChat {
	paragraph := func(html string) googleChatSection {
		return googleChatSection{Widgets: []googleChatWidget{{TextParagraph: googleChatText{Text: html}}}}
	}
	sections := []googleChatSection{
		paragraph(`<font color="` + severityColor[n.Severity] + `"><b>` + chatHTML(n.Message) + `</b></font>`),
	}
	// the message and the context line take two of the card's widgets
	for _, f := range n.Fields[:min(len(n.Fields), googleChatWidgets-2)] {
		sections = append(sections, paragraph(chatHTML(f.Name)+`<br><font color="`+googleChatGrey+`"><b>`+chatHTML(f.Value)+`</b></font>`))
	}
	sections = append(sections, paragraph(`<font color="`+googleChatGrey+`">`+chatHTML(contextLine(n))+`</font>`))
	return googleChat{Cards: []googleChatCard{{Header: googleChatHeader{Title: "canarykit", Subtitle: escape(n.Title())}, Sections: sections}}}
}

// chatHTML is s as text in Google Chat's card HTML: escaped, line breaks kept.
func chatHTML(s string) string {
	return strings.ReplaceAll(escape(s), "\n", "<br>")
}
