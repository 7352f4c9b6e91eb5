package webhook_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/webhook"
)

var podinfo = canary.Target{Namespace: "test", Name: "podinfo"}

func TestPayloadIsFlaggers(t *testing.T) {
	req := canary.GateRequest{
		Hook:     canary.Webhook{Name: "acceptance-test", Type: canary.HookPreRollout, Metadata: map[string]string{"type": "bash", "cmd": "curl"}},
		Target:   podinfo,
		Phase:    canary.PhaseProgressing,
		Checksum: "7d4b9c",
	}
	b, err := json.Marshal(webhook.NewPayload(req, time.Time{}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7d4b9c",
		"metadata":{"type":"bash","cmd":"curl"}}`, string(b))

	// No metadata: the field is omitted, as Flagger's omitempty does; the checksum is always sent.
	req.Hook.Metadata, req.Checksum = nil, ""
	b, err = json.Marshal(webhook.NewPayload(req, time.Time{}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":""}`, string(b))
}

func TestPayloadOfEventHooks(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 5, 0, 123e6, time.UTC)
	req := canary.GateRequest{
		Hook: canary.Webhook{Name: "events", Type: canary.HookEvent,
			Metadata: map[string]string{"team": "web", "eventType": "spoofed"}},
		Target: podinfo,
		Phase:  canary.PhaseProgressing,
		Event:  &canary.Event{Time: at, Type: canary.EventWarning, Message: "Halt podinfo.test advancement"},
	}
	p := webhook.NewPayload(req, time.Time{})
	assert.Equal(t, map[string]string{
		"team":         "web",
		"eventType":    "Warning", // the event's fields win over the hook's metadata, as in Flagger
		"eventMessage": "Halt podinfo.test advancement",
		"timestamp":    "1767225900123", // unix milliseconds
	}, p.Metadata)
	assert.Equal(t, "spoofed", req.Hook.Metadata["eventType"], "the hook's metadata is not modified")

	// An event without a time is stamped with now.
	req.Event = &canary.Event{Type: canary.EventNormal, Message: "m"}
	p = webhook.NewPayload(req, at)
	assert.Equal(t, "1767225900123", p.Metadata["timestamp"])
}

func TestReadPayload(t *testing.T) {
	r := httptest.NewRequest("POST", "/", bytes.NewBufferString(`{"name":"podinfo","namespace":"test","phase":"Waiting","checksum":"c","metadata":{"k":"v"}}`))
	p, err := webhook.ReadPayload(r)
	require.NoError(t, err)
	assert.Equal(t, webhook.Payload{Name: "podinfo", Namespace: "test", Phase: canary.PhaseWaiting, Checksum: "c",
		Metadata: map[string]string{"k": "v"}}, p)

	_, err = webhook.ReadPayload(httptest.NewRequest("POST", "/", bytes.NewBufferString(`{`)))
	assert.ErrorContains(t, err, "decode webhook payload")

	big := bytes.Repeat([]byte("x"), 1<<20+1)
	_, err = webhook.ReadPayload(httptest.NewRequest("POST", "/", bytes.NewReader(big)))
	assert.ErrorContains(t, err, "larger than")
}
