// Package httpx holds the HTTP plumbing the webhook packages share: JSON POSTs, bounded reads
// of response bodies, excerpts for error messages, and URLs safe to print.
package httpx
