package metrics

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	creds   Credentials
	headers http.Header
}

func newServerTransport(next http.RoundTripper, address string, creds Credentials, headers http.Header) *serverTransport {
	u, _ := url.Parse(address) // validated by PrometheusOptions.validate
	return &serverTransport{next: next, scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host), creds: creds, headers: headers.Clone()}
}

func (t *serverTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req
	if t.sameServer(req.URL) && (t.creds != (Credentials{}) || len(t.headers) > 0) {
		r = req.Clone(req.Context())
		for k, vs := range t.headers {
			r.Header.Del(k)
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		switch {
		case t.creds.BearerToken != "":
			r.Header.Set("Authorization", "Bearer "+t.creds.BearerToken)
		case t.creds.Username != "":
			r.SetBasicAuth(t.creds.Username, t.creds.Password)
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
