package metrics

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// A successful answer carrying Datadog's {"errors": [...]}, or no query answer at all ({},
// null), was read as a query without series: no data, which a metric with onNoData ignore
// passes. The first is Datadog's refusal with its text, the others an unexpected result.
func TestRedteamDatadogAnswersThatAreNotNoData(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		want error
		text string
	}{
		"errors with 200":           {`{"errors": ["Forbidden", "bad key"]}`, nil, "error: Forbidden; bad key"},
		"errors beside series":      {`{"status":"ok","errors":["Rate limited"],"series":[{"pointlist":[[1,1]]}]}`, nil, "error: Rate limited"},
		"an empty object":           {`{}`, ErrUnexpectedResult, `not Datadog's query answer: neither "status": "ok" nor "series"`},
		"null":                      {`null`, ErrUnexpectedResult, "not Datadog's query answer"},
		"another API's answer":      {`{"data":{"attributes":{"series":[]}}}`, ErrUnexpectedResult, "not Datadog's query answer"},
		"a status other than ok":    {`{"status":"pending"}`, ErrUnexpectedResult, "not Datadog's query answer"},
		"series null, no ok status": {`{"series":null}`, ErrUnexpectedResult, "not Datadog's query answer"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newDDFake(t, ddAnswer{200, tc.body})
			d := newTestDD(t, f.URL, DatadogOptions{})
			v, err := d.Query(context.Background(), "avg:errors{*}")
			require.Error(t, err, "value %v", v)
			assert.NotErrorIs(t, err, canary.ErrNoData)
			assert.NotErrorIs(t, err, canary.ErrUnavailable)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
			assert.ErrorContains(t, err, tc.text)
			assert.Len(t, f.requests(), 1, "not retried")
		})
	}
	// Datadog's own answers without data are still no data
	for _, body := range []string{`{"status":"ok","series":[]}`, `{"status":"ok"}`, `{"series":[]}`} {
		f := newDDFake(t, ddAnswer{200, body})
		_, err := newTestDD(t, f.URL, DatadogOptions{}).Query(context.Background(), "avg:errors{*}")
		assert.ErrorIs(t, err, canary.ErrNoData, body)
	}
}
