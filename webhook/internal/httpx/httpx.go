package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/canarykit/canarykit/internal/textcut"
)

// ExcerptLimit is how many bytes of a response body an error message quotes.
const ExcerptLimit = 512

// drainLimit bounds how much of a body is read (and discarded) after the excerpt, so the
// connection can be reused without reading an unbounded stream.
const drainLimit = 64 << 10

// ReadExcerpt reads the start of r for an error message and drains a bounded rest. It never
// fails: a read error ends the excerpt.
func ReadExcerpt(r io.Reader) string {
	s, _ := readExcerpt(r)
	return s
}

// readExcerpt is ReadExcerpt that also returns the read error that ended the excerpt or the
// drain, if any (reaching the drain limit is not an error).
func readExcerpt(r io.Reader) (string, error) {
	buf, err := io.ReadAll(io.LimitReader(r, ExcerptLimit+1))
	rest, derr := io.Copy(io.Discard, io.LimitReader(r, drainLimit))
	return Excerpt(buf, int(rest)), errors.Join(err, derr)
}

// Excerpt returns b trimmed of surrounding space and cut to ExcerptLimit bytes (at a rune
// boundary), saying how much was cut. more counts bytes known to follow b.
func Excerpt(b []byte, more int) string {
	s := strings.TrimSpace(string(b))
	if len(s) <= ExcerptLimit && more == 0 {
		return s
	}
	return textcut.Prefix(s, ExcerptLimit) + textcut.Ellipsis + " (truncated)"
}

// Quote quotes an excerpt for a one-line message, or says the body was empty.
func Quote(excerpt string) string {
	if excerpt == "" {
		return "empty body"
	}
	return "body " + strconv.Quote(excerpt)
}

// SafeURL returns u without its user information and query values, for messages and logs:
// both often carry credentials (a token is often the user name itself, "https://<token>@host/").
// User information is shown as "redacted@", as canary.RedactURL shows it.
func SafeURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("redacted")
	}
	if c.RawQuery != "" {
		c.RawQuery = "…"
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// HostOnly returns scheme://host of u: for services such as Slack and Discord whose webhook
// URLs are secrets in their path.
func HostOnly(u *url.URL) string {
	return u.Scheme + "://" + u.Host + "/…"
}

// NewTransport returns a clone of http.DefaultTransport (proxy from the environment, HTTP/2,
// sane timeouts), or a transport with the same proxy setting if DefaultTransport was replaced.
func NewTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
}

// ErrRedirectRefused: a redirect to another host or port (or from https down to http) was not
// followed.
var ErrRedirectRefused = errors.New("redirect to another host refused")

// maxRedirects is how many same-host redirects a request follows.
const maxRedirects = 5

// ErrTooManyRedirects: a request was redirected more than maxRedirects times (a loop, most
// likely).
var ErrTooManyRedirects = fmt.Errorf("stopped after %d redirects", maxRedirects)

// SameHostRedirects is an http.Client CheckRedirect that follows a redirect only to the same
// scheme, host and port (a port left out is the scheme's default), or from http to https on the
// same host and the default ports (an ingress that enforces TLS, which Flagger follows): a 307
// or 308 re-sends the body and every header, signatures included, and must not carry them to a
// host the caller did not choose, nor from https down to http. The refused location is named
// by its host only.
func SameHostRedirects(req *http.Request, via []*http.Request) error {
	if !sameOrigin(via[0].URL, req.URL) {
		return fmt.Errorf("%w: %s", ErrRedirectRefused, HostOnly(req.URL))
	}
	if len(via) > maxRedirects {
		return ErrTooManyRedirects
	}
	return nil
}

// sameOrigin reports whether a redirect from from to to stays with the host from names: the
// same host name and port with the same scheme, or the upgrade from http on port 80 to https
// on port 443.
func sameOrigin(from, to *url.URL) bool {
	if !strings.EqualFold(from.Hostname(), to.Hostname()) {
		return false
	}
	fs, ts := strings.ToLower(from.Scheme), strings.ToLower(to.Scheme)
	fp, tp := portOf(from, fs), portOf(to, ts)
	switch {
	case fs == ts:
		return fp == tp
	case fs == "http" && ts == "https":
		return fp == "80" && tp == "443"
	}
	return false
}

// portOf is u's port, or the default port of scheme when u names none.
func portOf(u *url.URL, scheme string) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// PostJSON POSTs body as JSON with header h (Content-Type is set) and returns the status and
// an excerpt of the response body. A transport error comes without url.Error's wrapper, whose
// message repeats the URL (and the secrets some URLs hold). A body that does not arrive whole
// (cut short, or stalled until ctx ends) is an error, whatever the status said.
func PostJSON(ctx context.Context, c *http.Client, u string, h http.Header, body []byte) (int, string, error) {
	r, err := Post(ctx, c, u, h, body)
	return r.StatusCode, r.Excerpt, err
}

// Response is what Post returns of an answer.
type Response struct {
	StatusCode int
	// Excerpt is the body's excerpt (see Excerpt).
	Excerpt string
	// Header is the answer's header.
	Header http.Header
}

// Post is PostJSON that also returns the answer's header.
func Post(ctx context.Context, c *http.Client, u string, h http.Header, body []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for k, vs := range h {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return Response{}, err
	}
	defer resp.Body.Close()
	excerpt, err := readExcerpt(resp.Body)
	if err != nil {
		// the answer did not arrive whole (cut short, or stalled past ctx): not an answer
		return Response{}, fmt.Errorf("reading the response body (status %d): %w", resp.StatusCode, err)
	}
	return Response{StatusCode: resp.StatusCode, Excerpt: excerpt, Header: resp.Header}, nil
}

// RetryAfter reads a Retry-After header (RFC 9110 section 10.2.3: a number of seconds, or an
// HTTP date, taken relative to now) as a wait; false when there is none, or it does not parse,
// or asks for no wait.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, secs > 0
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now), true
	}
	return 0, false
}
