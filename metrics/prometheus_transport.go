package metrics

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Bounds on what a Prometheus server (or whatever answers at its address) can make a provider
// hold.
const (
	// MaxResponseBytes bounds the body of one answer. An instant query's answer is one sample
	// (a few hundred bytes); a judge's range query over an hour at a 10 s step is tens of KiB.
	// A larger body fails the query (ErrUnexpectedResult) instead of being read whole.
	MaxResponseBytes = 4 << 20
	// MaxErrorTextBytes bounds Prometheus' error text kept in a QueryError, and so in events
	// and alerts; longer text is cut and says how much was dropped.
	MaxErrorTextBytes = 2 << 10
)

// errResponseTooLarge: an answer's body passed MaxResponseBytes.
var errResponseTooLarge = fmt.Errorf("response body larger than %d bytes", MaxResponseBytes)

// serverTransport sends a provider's requests: it adds the provider's credentials and headers
// only to requests for the configured server (its scheme and host), so a redirect elsewhere
// does not carry them (net/http drops Authorization on a redirect to another host, but a
// RoundTripper that set it would set it again), and it bounds every answer's body.
type serverTransport struct {
	next    http.RoundTripper
	scheme  string
	host    string
	headers http.Header // the provider's headers and its Authorization, canonical keys
}

func newServerTransport(next http.RoundTripper, address string, creds Credentials, headers http.Header) *serverTransport {
	u, _ := url.Parse(address) // validated by PrometheusOptions.validate
	h := make(http.Header, len(headers)+1)
	for k, vs := range headers {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	switch {
	case creds.BearerToken != "":
		h.Set("Authorization", "Bearer "+creds.BearerToken)
	case creds.Username != "":
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(creds.Username, creds.Password)
		h["Authorization"] = r.Header["Authorization"]
	}
	for k, vs := range h {
		h[k] = slices.Clip(vs) // shared by every request: an append must copy
	}
	return &serverTransport{next: next, scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host), headers: h}
}

func (t *serverTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req
	if len(t.headers) > 0 && t.sameServer(req.URL) {
		// A shallow copy with its own header map: the request itself is not modified, and
		// the values (never modified) are shared.
		r = new(http.Request)
		*r = *req
		r.Header = make(http.Header, len(req.Header)+len(t.headers))
		for k, vs := range req.Header {
			r.Header[k] = vs
		}
		for k, vs := range t.headers {
			r.Header[k] = vs
		}
	}
	res, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	res.Body = &limitedBody{rc: res.Body, left: MaxResponseBytes}
	return res, nil
}

// sameServer reports whether u names the configured server: same scheme (an https server's
// credentials do not go out in clear text) and same host and port.
func (t *serverTransport) sameServer(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, t.scheme) && strings.EqualFold(u.Host, t.host)
}

// limitedBody fails a read past its limit rather than truncating silently: a cut JSON
// document could still decode into something.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: a body of exactly the limit is fine.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// boundText cuts s to MaxErrorTextBytes at a character boundary, saying how much was cut.
func boundText(s string) string {
	if len(s) <= MaxErrorTextBytes {
		return s
	}
	cut := MaxErrorTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:cut], len(s)-cut)
}

// tooLarge reports whether err is a body over MaxResponseBytes.
func tooLarge(err error) bool { return errors.Is(err, errResponseTooLarge) }
