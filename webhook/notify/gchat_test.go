package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/webhook/internal/httpx"
	"github.com/canarykit/canarykit/webhook/notify"
)

// chatRequest is what a Google Chat stand-in received.
type chatRequest struct {
	path, query string
	body        []byte
}

// chatServer is a Google Chat stand-in: it records each request and answers with handle (nil:
// 200 and a message resource, as Chat does).
type chatServer struct {
	mu     sync.Mutex
	got    []chatRequest
	srv    *httptest.Server
	handle func(w http.ResponseWriter, r *http.Request)
}

func newChatServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *chatServer {
	cs := &chatServer{handle: handle}
	cs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cs.mu.Lock()
		cs.got = append(cs.got, chatRequest{path: r.URL.Path, query: r.URL.RawQuery, body: body})
		cs.mu.Unlock()
		if cs.handle != nil {
			cs.handle(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"spaces/AAA/messages/1"}`)
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *chatServer) requests() []chatRequest {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]chatRequest(nil), cs.got...)
}

// webhook is the server's incoming webhook URL, credentials in the query as Chat gives them.
func (cs *chatServer) webhook() string {
	return cs.srv.URL + "/v1/spaces/AAA/messages?key=chat-key&token=chat-token"
}

func newGoogleChat(t *testing.T, url string) *notify.GoogleChat {
	t.Helper()
	g, err := notify.NewGoogleChat(notify.GoogleChatConfig{URL: url})
	require.NoError(t, err)
	return g
}

// chatTexts decodes a Google Chat message into its header and its paragraphs, one per section.
func chatTexts(t *testing.T, body []byte) (title, subtitle string, paragraphs []string) {
	t.Helper()
	var m struct {
		Cards []struct {
			Header struct {
				Title, Subtitle string
			}
			Sections []struct {
				Widgets []struct {
					TextParagraph struct{ Text string }
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal(body, &m))
	require.Len(t, m.Cards, 1)
	c := m.Cards[0]
	for _, s := range c.Sections {
		require.Len(t, s.Widgets, 1)
		paragraphs = append(paragraphs, s.Widgets[0].TextParagraph.Text)
	}
	return c.Header.Title, c.Header.Subtitle, paragraphs
}

// Flagger's gchat card: a header and one text paragraph per section, the message's and each
// field's; canarykit colours the message by severity and adds the context line.
func TestGoogleChatCard(t *testing.T) {
	cs := newChatServer(t, nil)
	require.NoError(t, newGoogleChat(t, cs.webhook()).Notify(context.Background(), sample(notify.SeverityError, 2)))

	got := cs.requests()
	require.Len(t, got, 1)
	assert.Equal(t, "/v1/spaces/AAA/messages", got[0].path)
	assert.Equal(t, "key=chat-key&token=chat-token", got[0].query, "the webhook's credentials are its query")
	assert.JSONEq(t, `{"cards": [{
		"header": {"title": "canarykit", "subtitle": "podinfo.test"},
		"sections": [
			{"widgets": [{"textParagraph": {"text": "<font color=\"#a30200\"><b>Failed checks threshold reached 5 &lt;&amp;&gt;</b></font>"}}]},
			{"widgets": [{"textParagraph": {"text": "Field 0<br><font color=\"#848484\"><b>value 0</b></font>"}}]},
			{"widgets": [{"textParagraph": {"text": "Field 1<br><font color=\"#848484\"><b>value 1</b></font>"}}]},
			{"widgets": [{"textParagraph": {"text": "<font color=\"#848484\">canarykit · error · Progressing · RollingBack</font>"}}]}
		]}]}`, string(got[0].body))
}

// The severity colours the message as it colours the other services' messages.
func TestGoogleChatSeverityColours(t *testing.T) {
	cs := newChatServer(t, nil)
	g := newGoogleChat(t, cs.webhook())
	for _, sev := range []notify.Severity{notify.SeverityInfo, notify.SeverityWarn} {
		require.NoError(t, g.Notify(context.Background(), sample(sev, 0)))
	}
	got := cs.requests()
	require.Len(t, got, 2)
	_, _, info := chatTexts(t, got[0].body)
	_, _, warn := chatTexts(t, got[1].body)
	assert.True(t, strings.HasPrefix(info[0], `<font color="#2eb886">`), info[0])
	assert.True(t, strings.HasPrefix(warn[0], `<font color="#daa038">`), warn[0])
	assert.Equal(t, `<font color="#848484">canarykit · warn · Progressing · RollingBack</font>`, warn[1])
}

// Chat reads text paragraphs as HTML: a message, field or hook answer cannot close
// canarykit's tags, open its own or link anywhere, and an & stays an &.
func TestGoogleChatEscapesHostileText(t *testing.T) {
	cs := newChatServer(t, nil)
	n := sample(notify.SeverityInfo, 1)
	n.Message = `<script>alert(1)</script></font><a href="https://evil.test">approve</a> & done`
	n.Fields[0] = notify.Field{Name: "</font><b>Gate", Value: "a &amp; b\n<i>x</i>"}
	n.Target.Name = "<u>podinfo" // not a Kubernetes name, but a Target built in code may be anything
	require.NoError(t, newGoogleChat(t, cs.webhook()).Notify(context.Background(), n))

	_, subtitle, ps := chatTexts(t, cs.requests()[0].body)
	assert.Equal(t, "&lt;u&gt;podinfo.test", subtitle)
	require.Len(t, ps, 3)
	assert.Equal(t, `<font color="#2eb886"><b>&lt;script&gt;alert(1)&lt;/script&gt;&lt;/font&gt;&lt;a href="https://evil.test"&gt;approve&lt;/a&gt; &amp; done</b></font>`, ps[0])
	assert.Equal(t, `&lt;/font&gt;&lt;b&gt;Gate<br><font color="#848484"><b>a &amp;amp; b<br>&lt;i&gt;x&lt;/i&gt;</b></font>`, ps[1],
		"a line break stays one")
	for _, p := range ps {
		text := notify.ChatMarkup.ReplaceAllString(p, "")
		assert.NotContains(t, text, "<", "markup not canarykit's in %q", p)
		assert.NotContains(t, text, ">", "markup not canarykit's in %q", p)
	}
}

// entity matches an & that starts one of the escapes canarykit writes.
var entity = regexp.MustCompile(`&(amp|lt|gt);`)

// However long, a notification makes a message within Chat's 32,000 bytes, cut where the text
// is raw (no escape cut in half), with at most the 100 widgets a card shows.
func TestGoogleChatBounded(t *testing.T) {
	cs := newChatServer(t, nil)
	g := newGoogleChat(t, cs.webhook())
	n := sample(notify.SeverityError, 300)
	n.Message = strings.Repeat("<&>", 50_000)
	for i := range n.Fields {
		n.Fields[i].Value = strings.Repeat("&", 2000)
	}
	require.NoError(t, g.Notify(context.Background(), n))
	// short fields: only the widget limit applies
	require.NoError(t, g.Notify(context.Background(), sample(notify.SeverityInfo, 150)))

	got := cs.requests()
	require.Len(t, got, 2)
	body := got[0].body
	assert.LessOrEqual(t, len(body), notify.GoogleChatPayloadLimit)
	assert.Less(t, notify.GoogleChatPayloadLimit, 32_000)
	_, subtitle, ps := chatTexts(t, body)
	assert.Equal(t, "podinfo.test", subtitle)
	require.GreaterOrEqual(t, len(ps), 2)
	assert.LessOrEqual(t, len(ps), 100)
	assert.True(t, strings.HasSuffix(ps[0], "…</b></font>"), "the message's cut is marked: %.80q", ps[0])
	for _, p := range ps {
		text := notify.ChatMarkup.ReplaceAllString(p, "")
		assert.NotContains(t, entity.ReplaceAllString(text, ""), "&", "an escape cut in half in %.80q", p)
	}

	_, _, ps = chatTexts(t, got[1].body)
	require.Len(t, ps, 100, "the message, 98 fields, the context line")
	assert.Equal(t, `Field 97<br><font color="#848484"><b>value 97</b></font>`, ps[98])
	assert.Contains(t, ps[99], "canarykit · info")
}

// A refusal is an error that names the webhook by its host: its query holds the credentials.
func TestGoogleChatErrorsKeepTheKeySecret(t *testing.T) {
	cs := newChatServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":400,"message":"Invalid JSON payload"}}`)
	})
	err := newGoogleChat(t, cs.webhook()).Notify(context.Background(), sample(notify.SeverityInfo, 0))
	require.ErrorIs(t, err, notify.ErrStatus)
	assert.Contains(t, err.Error(), `gchat notification to `+cs.srv.URL+`/…: unexpected status 400 Bad Request: body "{\"error\"`)
	assert.NotContains(t, err.Error(), "chat-key")
	assert.NotContains(t, err.Error(), "chat-token")
	assert.NotContains(t, err.Error(), "spaces/AAA")

	_, err = notify.NewGoogleChat(notify.GoogleChatConfig{URL: "chat.googleapis.com/v1/spaces/AAA/messages?key=k"})
	require.ErrorIs(t, err, notify.ErrInvalidConfig)
	assert.ErrorContains(t, err, "gchat: URL: must be an absolute http(s) URL")
	_, err = notify.NewGoogleChat(notify.GoogleChatConfig{URL: "ftp://chat.googleapis.com/v1/spaces/AAA/messages"})
	assert.ErrorIs(t, err, notify.ErrInvalidConfig)
}

// A redirect to another host would carry the message there, and the credentials if the
// location repeats them: it is refused, and nothing reaches that host. A redirect on the same
// host is followed.
func TestGoogleChatRedirects(t *testing.T) {
	attacker := newChatServer(t, nil)
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		cs := newChatServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, attacker.srv.URL+r.URL.RequestURI(), status)
		})
		err := newGoogleChat(t, cs.webhook()).Notify(context.Background(), sample(notify.SeverityInfo, 0))
		require.ErrorIs(t, err, httpx.ErrRedirectRefused, "status %d", status)
		assert.NotContains(t, err.Error(), "chat-token")
		assert.Len(t, cs.requests(), 1)
	}
	assert.Empty(t, attacker.requests(), "nothing reached the other host")

	moved := newChatServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/spaces/AAA/messages" {
			http.Redirect(w, r, "/v1/spaces/BBB/messages?"+r.URL.RawQuery, http.StatusPermanentRedirect)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	require.NoError(t, newGoogleChat(t, moved.webhook()).Notify(context.Background(), sample(notify.SeverityInfo, 0)))
	got := moved.requests()
	require.Len(t, got, 2)
	assert.Equal(t, "/v1/spaces/BBB/messages", got[1].path)
	assert.Equal(t, got[0].body, got[1].body, "a 308 re-sends the message")
}
