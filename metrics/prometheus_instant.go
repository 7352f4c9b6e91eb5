package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// The instant query is the provider's hot path (one per metric per analysis step, for every
// rollout of the process), so it is sent and decoded here rather than through client_golang's
// general API client: the request is built once per query without url.Values, the answer is
// read into a reused buffer and, in the usual case, decoded in one pass (fastInstant). The
// protocol is client_golang's: a form-encoded POST, again as a GET when the server answers 405
// or 501, Prometheus' error answers turned into the same *v1.Error values. Range queries still
// go through client_golang.

// instantEndpoint is where a provider sends instant queries.
type instantEndpoint struct {
	client *http.Client
	url    *url.URL // the server's /api/v1/query, with the address's own query parameters
	post   string   // url as text
	base   url.Values
	// timeout is the evaluation timeout parameter ("5s"), timeoutParam its encoding after
	// the query's.
	timeout, timeoutParam string
}

func newInstantEndpoint(address string, client *http.Client, timeout string) (*instantEndpoint, error) {
	u, err := url.Parse(strings.TrimRight(address, "/"))
	if err != nil {
		return nil, err
	}
	u.Path = path.Join(strings.TrimRight(u.Path, "/"), "/api/v1/query")
	return &instantEndpoint{client: client, url: u, post: u.String(), base: u.Query(), timeout: timeout, timeoutParam: "&timeout=" + url.QueryEscape(timeout)}, nil
}

// form encodes the query's parameters as url.Values.Encode would: sorted by name.
func (e *instantEndpoint) form(q string) string {
	if len(e.base) == 0 {
		var b strings.Builder
		b.Grow(len("query=") + escapedLen(q) + len(e.timeoutParam))
		b.WriteString("query=")
		writeEscaped(&b, q)
		b.WriteString(e.timeoutParam)
		return b.String()
	}
	v := make(url.Values, len(e.base)+2)
	for k, vs := range e.base {
		v[k] = vs
	}
	v.Set("query", q)
	v.Set("timeout", e.timeout)
	return v.Encode()
}

// unreservedInQuery reports whether url.QueryEscape keeps c as it is.
func unreservedInQuery(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// escapedLen is len(url.QueryEscape(s)).
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && !unreservedInQuery(c) {
			n += 2
		}
	}
	return n
}

// writeEscaped writes url.QueryEscape(s) to b without building it first.
func writeEscaped(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case unreservedInQuery(c):
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

var (
	formContentType  = []string{"application/x-www-form-urlencoded"}
	identityEncoding = []string{"identity"}
)

// instantValue is an instant query's result: the number the fast decoder found, or the
// general decoder's value.
type instantValue struct {
	f float64
	v model.Value
}

// answerBuffers hold answers while they are decoded.
var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer: larger buffers (an unusual answer) are left to the garbage collector.
const maxPooledBuffer = 64 << 10

// query runs one instant query attempt. With fast, an answer of one number is decoded by
// fastInstant (and only the number is returned); otherwise the value is always decoded whole.
func (e *instantEndpoint) query(ctx context.Context, q string, fast bool) (instantValue, v1.Warnings, error) {
	buf := answerBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			answerBuffers.Put(buf)
		}
	}()
	args := e.form(q)
	code, err := e.send(ctx, http.MethodPost, e.post, args, buf)
	if err == nil && (code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented) {
		u := *e.url
		u.RawQuery = args
		buf.Reset()
		code, err = e.send(ctx, http.MethodGet, u.String(), "", buf)
	}
	if err != nil {
		return instantValue{}, nil, err
	}
	body := buf.Bytes()
	if fast && code/100 == 2 && code != http.StatusNoContent {
		if f, ok := fastInstant(body); ok {
			return instantValue{f: f}, nil, nil
		}
	}
	v, warnings, err := decodeAnswer(code, body)
	return instantValue{v: v}, warnings, err
}

// send makes one request and reads the answer's body into buf.
func (e *instantEndpoint) send(ctx context.Context, method, target, form string, buf *bytes.Buffer) (int, error) {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return 0, err
	}
	// The header values are shared, never modified, slices (Header.Add appends to a copy: their
	// capacity is their length).
	if method == http.MethodPost {
		req.Header["Content-Type"] = formContentType
		// Idempotent: the transport may resend it on a connection closed while idle.
		req.Header["Idempotency-Key"] = nil
	}
	// An answer is a few hundred bytes: compressing it costs both sides more than it saves.
	req.Header["Accept-Encoding"] = identityEncoding
	res, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var r io.Reader = res.Body
	if !res.Uncompressed && strings.EqualFold(res.Header.Get("Content-Encoding"), "gzip") {
		// Compressed anyway (a proxy, or an Accept-Encoding in the provider's headers): the
		// decompressed answer is bounded as the body is.
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			return 0, readError(ctx, err)
		}
		r = &limitedBody{rc: zr, left: MaxResponseBytes}
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, readError(ctx, err)
	}
	return res.StatusCode, nil
}

// readError is a failed read of an answer: the context's error when it ended the read.
func readError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// apiResponse is the envelope of every answer of Prometheus' HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType v1.ErrorType    `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings,omitempty"`
}

// decodeAnswer decodes any answer to an instant query, with the errors client_golang's API
// client returns for it: a status other than 2xx, 400 and 422 is a *v1.Error of type client
// or server error with the body as detail; an envelope that does not decode is bad_response;
// Prometheus' own error answer keeps its type and message.
func decodeAnswer(code int, body []byte) (model.Value, v1.Warnings, error) {
	apiErr := code == http.StatusBadRequest || code == http.StatusUnprocessableEntity
	if code/100 != 2 && !apiErr {
		e := &v1.Error{Type: v1.ErrBadResponse, Msg: fmt.Sprintf("bad response code %d", code), Detail: string(body)}
		switch code / 100 {
		case 4:
			e.Type, e.Msg = v1.ErrClient, fmt.Sprintf("client error: %d", code)
		case 5:
			e.Type, e.Msg = v1.ErrServer, fmt.Sprintf("server error: %d", code)
		}
		return nil, nil, e
	}
	var res apiResponse
	if code != http.StatusNoContent {
		if err := json.Unmarshal(body, &res); err != nil {
			return nil, nil, &v1.Error{Type: v1.ErrBadResponse, Msg: err.Error()}
		}
	}
	var err error
	if apiErr && res.Status == "success" {
		err = &v1.Error{Type: v1.ErrBadResponse, Msg: "inconsistent body for response code"}
	}
	if res.Status == "error" {
		err = &v1.Error{Type: res.ErrorType, Msg: res.Error}
	}
	if err != nil {
		return nil, res.Warnings, err
	}
	v, err := decodeResult(res.Data)
	return v, res.Warnings, err
}

// decodeResult decodes an answer's data: a scalar, a vector or a matrix.
func decodeResult(data []byte) (model.Value, error) {
	var d struct {
		Type   model.ValueType `json:"resultType"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	switch d.Type {
	case model.ValScalar:
		var s model.Scalar
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return nil, err
		}
		return &s, nil
	case model.ValVector:
		if err := checkSamples(d.Result); err != nil {
			return nil, err
		}
		var v model.Vector
		if err := json.Unmarshal(d.Result, &v); err != nil {
			return nil, err
		}
		return v, nil
	case model.ValMatrix:
		var m model.Matrix
		if err := json.Unmarshal(d.Result, &m); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("unexpected value type %q", d.Type)
}

// checkSamples refuses the vector samples model.Sample would decode as a nil sample or as the
// value 0: null, or with neither a value pair [time, "value"] nor a histogram; a pair whose
// value is null ([time, null]) is one (client_golang leaves its value 0), as it is in a range
// answer (checkRangePoints). Keys match as model.Sample's do (encoding/json, ignoring case).
func checkSamples(result []byte) error {
	var samples []*struct {
		Value, Histogram json.RawMessage
	}
	if err := json.Unmarshal(result, &samples); err != nil {
		return err
	}
	for i, s := range samples {
		if s == nil {
			return fmt.Errorf("sample %d is null", i)
		}
		if len(s.Histogram) > 0 && string(s.Histogram) != "null" {
			continue
		}
		var pair []json.RawMessage
		if json.Unmarshal(s.Value, &pair) != nil || len(pair) != 2 || !bytes.HasPrefix(bytes.TrimSpace(pair[1]), []byte{'"'}) {
			return fmt.Errorf("sample %d has no value [time, \"value\"]", i)
		}
	}
	return nil
}
