package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/canarykit/canarykit/webhook/internal/httpx"
)

// poster sends a notifier's JSON payloads.
type poster struct {
	kind   string // "slack", "msteams", ...
	client *http.Client
	url    *url.URL
	// where is the URL as messages show it.
	where  string
	header http.Header
	// sign, if set, adds headers computed from the body.
	sign func(h http.Header, body []byte)
	// refused, if set, reads a 2xx answer's body excerpt and returns why the service refused
	// the message, when it says so in a successful answer.
	refused func(excerpt string) (string, bool)
}

// newPoster validates the destination URL. Webhook URLs of chat services are secrets, so
// messages show only their host unless showPath.
func newPoster(kind, raw string, client *http.Client, showPath bool, p *problems) poster {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("URL: must be an absolute http(s) URL")
		return poster{kind: kind}
	}
	if client == nil {
		client = http.DefaultClient
	}
	// a copy that follows redirects only to the same host: the payload stays where it was sent
	cc := *client
	cc.CheckRedirect = httpx.SameHostRedirects
	client = &cc
	where := httpx.HostOnly(u)
	if showPath {
		where = httpx.SafeURL(u)
	}
	return poster{kind: kind, client: client, url: u, where: where}
}

// post sends payload as JSON and wants a 2xx answer.
func (p poster) post(ctx context.Context, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("%s notification: encode: %w", p.kind, err)
	}
	h := p.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if p.sign != nil {
		p.sign(h, body)
	}
	status, excerpt, err := httpx.PostJSON(ctx, p.client, p.url.String(), h, body)
	if err != nil {
		return fmt.Errorf("%s notification to %s: %w", p.kind, p.where, err)
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("%s notification to %s: %w %d %s: %s", p.kind, p.where, ErrStatus, status,
			http.StatusText(status), httpx.Quote(excerpt))
	}
	if p.refused != nil {
		if why, ok := p.refused(excerpt); ok {
			return fmt.Errorf("%s notification to %s: %w: error %q", p.kind, p.where, ErrRefused, why)
		}
	}
	return nil
}

// problems collects configuration problems to report at once.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err(kind string) error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, kind, strings.Join(p, "; "))
}
