package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/canarykit/canarykit/canary"
)

// Payload is the JSON body of every hook call, field for field Flagger's
// CanaryWebhookPayload, so receivers written for Flagger (flagger-loadtester among them) work
// unchanged.
type Payload struct {
	// Name and Namespace identify the canary (the target workload).
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Phase is the release's phase as the hook type defines it (see canary.GateRequest).
	Phase canary.Phase `json:"phase"`
	// Checksum identifies the revision under release.
	Checksum string `json:"checksum"`
	// Metadata is the hook's metadata; event hooks add MetaEventMessage, MetaEventType and
	// MetaTimestamp.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Metadata keys event hooks add, as Flagger names them. They take precedence over the hook's
// own metadata with the same keys.
const (
	MetaEventMessage = "eventMessage"
	MetaEventType    = "eventType" // "Normal" or "Warning"
	MetaTimestamp    = "timestamp" // unix milliseconds, decimal
)

// maxPayloadBytes bounds what ReadPayload accepts.
const maxPayloadBytes = 1 << 20

// NewPayload builds the payload for req. For event hooks, the timestamp is the event's time,
// or now when the event has none.
func NewPayload(req canary.GateRequest, now time.Time) Payload {
	p := Payload{
		Name:      req.Target.CanaryName(),
		Namespace: req.Target.Namespace,
		Phase:     req.Phase,
		Checksum:  req.Checksum,
	}
	if len(req.Hook.Metadata) > 0 {
		p.Metadata = maps.Clone(req.Hook.Metadata)
	}
	if e := req.Event; e != nil {
		if p.Metadata == nil {
			p.Metadata = make(map[string]string, 3)
		}
		ts := e.Time
		if ts.IsZero() {
			ts = now
		}
		p.Metadata[MetaEventMessage] = e.Message
		p.Metadata[MetaEventType] = string(e.Type)
		p.Metadata[MetaTimestamp] = strconv.FormatInt(ts.UnixMilli(), 10)
	}
	return p
}

// ReadPayload decodes a hook call's payload from a request body (at most 1 MiB), for
// receivers.
func ReadPayload(r *http.Request) (Payload, error) {
	var p Payload
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayloadBytes+1))
	if err != nil {
		return p, fmt.Errorf("read webhook payload: %w", err)
	}
	if len(body) > maxPayloadBytes {
		return p, fmt.Errorf("webhook payload larger than %d bytes", maxPayloadBytes)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("decode webhook payload: %w", err)
	}
	return p, nil
}
