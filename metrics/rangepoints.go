package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/api"
)

// pointChecked is the client of the range queries (PrometheusSamples, PrometheusCounts): it
// reads a range answer's points before client_golang decodes them, since client_golang takes
// a point without its value ([t], [], null) for the value 0, a number a check would judge.
type pointChecked struct{ api.Client }

func (c pointChecked) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp, body, err := c.Client.Do(ctx, req)
	if err != nil || resp == nil || resp.StatusCode/100 != 2 || !strings.HasSuffix(req.URL.Path, "/query_range") {
		return resp, body, err
	}
	if err := checkRangePoints(body); err != nil {
		return resp, body, err
	}
	return resp, body, nil
}

// checkRangePoints refuses a matrix answer any of whose points is not a [time, "value"] pair
// (a float point: native histogram points are refused by allValues), and a vector answer
// (which Prometheus never gives a range query, but whatever answers at its address may) with
// a sample checkSamples refuses. An answer it cannot read is client_golang's to report.
func checkRangePoints(body []byte) error {
	var answer struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return nil
	}
	var matrix []*struct {
		Values []json.RawMessage `json:"values"`
	}
	switch answer.Data.ResultType {
	case "vector":
		if err := checkSamples(answer.Data.Result); err != nil {
			return fmt.Errorf("%w: %w", ErrUnexpectedResult, err)
		}
		return nil
	case "matrix":
		if json.Unmarshal(answer.Data.Result, &matrix) != nil {
			return nil
		}
	default:
		return nil
	}
	for i, series := range matrix {
		if series == nil {
			continue // allValues refuses a null series
		}
		for j, raw := range series.Values {
			var pair []json.RawMessage
			if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 || !bytes.HasPrefix(bytes.TrimSpace(pair[1]), []byte{'"'}) {
				return fmt.Errorf("%w: point %d of series %d is not a [time, \"value\"] pair", ErrUnexpectedResult, j, i)
			}
		}
	}
	return nil
}
