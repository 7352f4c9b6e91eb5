package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sample is one element of an instant query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
	Time   time.Time
}

// IsNaN reports whether the sample is NaN: no data, for a ratio.
func (s Sample) IsNaN() bool { return math.IsNaN(s.Value) }

// queryResponse is the part of /api/v1/query's answer the bed reads.
type queryResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query runs an instant query at the current time; vector and scalar results are returned
// as samples (a scalar as one sample without labels).
func (p *Prometheus) Query(ctx context.Context, query string) ([]Sample, error) {
	form := url.Values{"query": {query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("query %s: read answer: %w", query, err)
	}
	var qr queryResponse
	if err := json.Unmarshal(body, &qr); err != nil {
		return nil, fmt.Errorf("query %s: %s: decode answer: %w", query, resp.Status, err)
	}
	if qr.Status != "success" {
		return nil, fmt.Errorf("query %s: %s: %s", query, qr.ErrorType, qr.Error)
	}
	return decodeResult(qr.Data.ResultType, qr.Data.Result)
}

// decodeResult turns a vector or scalar result into samples.
func decodeResult(resultType string, raw json.RawMessage) ([]Sample, error) {
	switch resultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, fmt.Errorf("decode vector: %w", err)
		}
		out := make([]Sample, 0, len(vec))
		for _, v := range vec {
			s, err := decodePoint(v.Value)
			if err != nil {
				return nil, err
			}
			s.Labels = v.Metric
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var point [2]any
		if err := json.Unmarshal(raw, &point); err != nil {
			return nil, fmt.Errorf("decode scalar: %w", err)
		}
		s, err := decodePoint(point)
		if err != nil {
			return nil, err
		}
		return []Sample{s}, nil
	default:
		return nil, fmt.Errorf("result type %q is not supported (want vector or scalar)", resultType)
	}
}

// decodePoint reads [unix seconds, "value"]; the value may be "NaN", "+Inf" or "-Inf".
func decodePoint(point [2]any) (Sample, error) {
	ts, ok := point[0].(float64)
	str, ok2 := point[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("decode point %v: want [time, \"value\"]", point)
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("decode value %q: %w", str, err)
	}
	sec, frac := math.Modf(ts)
	return Sample{Value: v, Time: time.Unix(int64(sec), int64(frac*1e9))}, nil
}

// QueryMark is a position in Prometheus' query log.
type QueryMark struct{ offset int64 }

// LoggedQuery is one entry of the query log.
type LoggedQuery struct {
	Query string
	// Path is the API path the query came through (/api/v1/query, /api/v1/query_range).
	Path string
	// Time is when Prometheus logged the query: once it was evaluated, before the answer.
	Time time.Time
	// Exec is Prometheus' time on the query (stats.timings.execTotalTime: the wait for a
	// slot of its query concurrency, preparation and evaluation); Time − Exec is about when
	// the query reached its engine.
	Exec time.Duration
}

// QueryMark returns the current end of the query log. Queries are logged before Prometheus
// answers them, so every query answered before QueryMark returns lies before the mark.
func (p *Prometheus) QueryMark(t testing.TB) QueryMark {
	t.Helper()
	if p.queryLog == "" {
		t.Fatal("testenv: this Prometheus has no query log (PrometheusOptions.QueryLog)")
	}
	st, err := os.Stat(p.queryLog)
	if os.IsNotExist(err) {
		return QueryMark{}
	}
	if err != nil {
		t.Fatalf("read query log: %v", err)
	}
	return QueryMark{offset: st.Size()}
}

// QueriesSince returns the queries logged after mark whose text contains filter ("" for all).
func (p *Prometheus) QueriesSince(t testing.TB, mark QueryMark, filter string) []LoggedQuery {
	t.Helper()
	if p.queryLog == "" {
		t.Fatal("testenv: this Prometheus has no query log (PrometheusOptions.QueryLog)")
	}
	f, err := os.Open(p.queryLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("open query log: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(mark.offset, io.SeekStart); err != nil {
		t.Fatalf("seek query log: %v", err)
	}
	queries, err := parseQueryLog(f)
	if err != nil {
		t.Fatalf("read query log: %v", err)
	}
	out := queries[:0]
	for _, q := range queries {
		if strings.Contains(q.Query, filter) {
			out = append(out, q)
		}
	}
	return out
}

// parseQueryLog reads JSON lines as Prometheus writes them to query_log_file.
func parseQueryLog(r io.Reader) ([]LoggedQuery, error) {
	var out []LoggedQuery
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var entry struct {
			Params struct {
				Query string `json:"query"`
			} `json:"params"`
			HTTPRequest struct {
				Path string `json:"path"`
			} `json:"httpRequest"`
			Stats struct {
				Timings struct {
					ExecTotal float64 `json:"execTotalTime"` // seconds
				} `json:"timings"`
			} `json:"stats"`
			TS time.Time `json:"ts"`
		}
		if err := json.Unmarshal(line, &entry); err != nil {
			return nil, fmt.Errorf("decode query log line %q: %w", line, err)
		}
		out = append(out, LoggedQuery{Query: entry.Params.Query, Path: entry.HTTPRequest.Path, Time: entry.TS,
			Exec: time.Duration(entry.Stats.Timings.ExecTotal * float64(time.Second))})
	}
	return out, sc.Err()
}
