package notify

import (
	"encoding/json"
	"slices"

	"github.com/canarykit/canarykit/internal/textcut"
)

// Payload bounds per service, in bytes of JSON. Teams documents 28 KB per message and Google
// Chat 32,000 bytes (JSON's escapes of <, > and & make the JSON the larger count); Slack,
// Discord and the JSON receiver get bounds well above what a release's alert needs, so that
// no event (a 64 KiB query, a long hook answer) can make a message that a service refuses or a
// receiver has to read whole.
const (
	TeamsPayloadLimit      = 27 << 10 // under Teams' 28 KB with room for its envelope
	GoogleChatPayloadLimit = 30 << 10 // under Google Chat's 32,000 bytes
	SlackPayloadLimit      = 32 << 10
	DiscordPayloadLimit    = 16 << 10 // an embed holds at most 6,000 characters
	JSONPayloadLimit       = 64 << 10
)

// fit builds the payload of n with build, shrinking n's texts (message, field values, check
// queries and messages) and then dropping fields and checks until the payload's JSON is at most
// limit bytes. Every cut is marked with "…".
func fit[T any](n Notification, limit int, build func(Notification) T) T {
	p := build(n)
	for textCap := 4096; textCap >= 16; textCap /= 2 {
		if fits(p, limit) {
			return p
		}
		n = capTexts(n, textCap)
		p = build(n)
	}
	for !fits(p, limit) && (len(n.Fields) > 0 || len(n.Event.Checks) > 0) {
		n.Fields = n.Fields[:len(n.Fields)/2]
		n.Event.Checks = n.Event.Checks[:len(n.Event.Checks)/2]
		p = build(n)
	}
	return p
}

func fits(p any, limit int) bool {
	b, err := json.Marshal(p)
	return err == nil && len(b) <= limit
}

// capTexts returns n with its free texts cut to at most max runes each (the message to 4×).
func capTexts(n Notification, max int) Notification {
	n.Message = textcut.Runes(n.Message, 4*max)
	n.Fields = slices.Clone(n.Fields)
	for i := range n.Fields {
		n.Fields[i].Name = textcut.Runes(n.Fields[i].Name, max)
		n.Fields[i].Value = textcut.Runes(n.Fields[i].Value, max)
	}
	n.Event.Message = textcut.Runes(n.Event.Message, 4*max)
	n.Event.Hook = textcut.Runes(n.Event.Hook, max)
	n.Event.Checks = slices.Clone(n.Event.Checks)
	for i := range n.Event.Checks {
		c := &n.Event.Checks[i]
		c.Name, c.Query, c.Message = textcut.Runes(c.Name, max), textcut.Runes(c.Query, max), textcut.Runes(c.Message, max)
	}
	return n
}
