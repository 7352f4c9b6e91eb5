// Package webhook runs a release's hooks and gates over HTTP exactly as Flagger does, so the
// receivers users already run (flagger-loadtester, their own services) work unchanged.
//
// # Hooks
//
// A Client is the canary.Gate to set as canary.Config.Webhooks: the Rollout asks it for every
// webhook in the Spec. Each call POSTs Flagger's payload as JSON:
//
//	{"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "<revision>",
//	 "metadata": {...the hook's metadata...}}
//
// Event hooks add "eventMessage", "eventType" and "timestamp" (unix milliseconds) to the
// metadata. A status of 200–202 with its body received whole is success, anything else a
// failure (a body cut short or stalled past the timeout too), so the answer means, per
// hook type:
//
//	confirm-rollout            2xx opens; otherwise the release waits (phase Waiting)
//	pre-rollout, rollout       2xx passes; otherwise a failed check
//	confirm-traffic-increase   2xx lets the weight grow; otherwise it stays
//	confirm-promotion          2xx lets promotion start; otherwise WaitingPromotion
//	post-rollout, event        reported only
//	rollback                   2xx rolls the release back now; anything else does not
//
// Each attempt is bounded by the hook's Timeout (default 10s); the Rollout also bounds the
// whole call by it. A hook's Retries allow that many more attempts on connection errors,
// timeouts, 429 and 5xx but 501, with exponential backoff (cenkalti/backoff), at most
// canary.MaxHookRetries; a 429 or 503 with Retry-After waits as long as it asks, as Flagger's
// client does, up to Options.RetryMaxInterval. Other 4xx answers, 501, certificate failures
// and redirect loops are final. A redirect is followed only to the same scheme, host and
// port, or from http up to https on the same host (an ingress that enforces TLS): a 307 or
// 308 re-sends the body and its signature, which must not reach a host the hook's URL does
// not name, nor go out in clear text after TLS (ErrRedirect, final). A failure is an *Error
// naming the hook and URL, with the status and up to 512 bytes of the response body: the
// text the Rollout puts in its events.
//
// TLSOptions add a CA bundle, a client certificate or insecureSkipVerify for https hooks.
// Options.Header (an Authorization for a gateway, say) goes only to Options.HeaderHosts, which
// it requires: the hook URLs come from manifests, and a credential must not reach a host a
// Canary's author chose.
//
// # Signatures
//
// Beyond Flagger, a Client with a SigningKey signs every request so receivers can
// authenticate the caller: X-Canarykit-Timestamp carries the unix time and
// X-Canarykit-Signature "sha256=" + hex(HMAC-SHA256(key, timestamp + "." + body)). Receivers
// check it with Verify, a Verifier, or Verifier.Middleware, which reject stale timestamps
// (default tolerance 5 minutes) to blunt replays.
//
// # Related packages
//
// webhooktest serves a flagger-loadtester stand-in and a recording receiver for tests;
// kubegate keeps manual gates in the cluster so approvals survive restarts; notify sends the
// Rollout's events to Slack, Microsoft Teams, Discord, Google Chat or any JSON endpoint;
// loadgen generates load against the canary in-process when no loadtester runs.
package webhook
