package metrics

import (
	"bytes"
	"compress/gzip"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canarykit/canarykit/canary"
)

// An instant query's answer is a few hundred bytes: the provider asks for it uncompressed
// (the transport would otherwise ask Prometheus for gzip and inflate every answer).
func TestPrometheusInstantQueryAsksForIdentityEncoding(t *testing.T) {
	f := newPromFake(t, always(200, scalarJSON("1")))
	p := newTestProm(t, f.URL, PrometheusOptions{})
	_, err := p.Query(ctxFor(t, time.Minute), "up")
	require.NoError(t, err)
	assert.Equal(t, "identity", f.requests()[0].Header.Get("Accept-Encoding"))
	assert.Equal(t, "application/x-www-form-urlencoded", f.requests()[0].Header.Get("Content-Type"))
}

// gzipServer answers every request with body compressed, whatever the request accepts.
func gzipServer(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, err := zw.Write(body)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(zipped.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A compressed answer the transport did not inflate (the provider's headers asked for gzip)
// is inflated, and bounded after inflating as a body is.
func TestPrometheusInstantQueryInflatesGzipAnswers(t *testing.T) {
	gz := http.Header{"Accept-Encoding": []string{"gzip"}}
	t.Run("answer", func(t *testing.T) {
		srv := gzipServer(t, []byte(promAnswer))
		p := newTestProm(t, srv.URL, PrometheusOptions{Headers: gz})
		v, err := p.Query(ctxFor(t, time.Minute), "up")
		require.NoError(t, err)
		assert.Equal(t, 99.52380952380952, v)
	})
	t.Run("bomb", func(t *testing.T) {
		body := scalarJSON("4")
		body += strings.Repeat(" ", MaxResponseBytes+1-len(body))
		srv := gzipServer(t, []byte(body))
		p := newTestProm(t, srv.URL, PrometheusOptions{Headers: gz})
		_, err := p.Query(ctxFor(t, time.Minute), "up")
		require.ErrorIs(t, err, ErrUnexpectedResult)
		assert.Contains(t, err.Error(), "larger than")
	})
}

// A server (or proxy) that refuses POST gets the query again as a GET, as client_golang does.
func TestPrometheusInstantQueryFallsBackToGet(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Query().Get("query") != "sum(up)" || r.URL.Query().Get("timeout") != "5s" || r.URL.Query().Get("tenant") != "a" {
			http.Error(w, "bad parameters "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(scalarJSON("7")))
	}))
	t.Cleanup(srv.Close)
	p := newTestProm(t, srv.URL+"/?tenant=a", PrometheusOptions{})
	v, err := p.Query(ctxFor(t, time.Minute), "sum(up)")
	require.NoError(t, err)
	assert.Equal(t, 7.0, v)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{http.MethodPost, http.MethodGet}, methods)
}

// The address' own query parameters go with every query (a tenant behind a proxy).
func TestPrometheusInstantQueryKeepsAddressParameters(t *testing.T) {
	f := newPromFake(t, always(200, scalarJSON("1")))
	p := newTestProm(t, f.URL+"/prom?tenant=a%20b", PrometheusOptions{})
	_, err := p.Query(ctxFor(t, time.Minute), "up")
	require.NoError(t, err)
	r := f.requests()[0]
	assert.Equal(t, "/prom/api/v1/query", r.Path)
	assert.Equal(t, map[string]string{"tenant": "a b", "query": "up", "timeout": "5s"}, r.Form)
}

// The form is url.Values' encoding of the query and timeout, as client_golang sends it.
func TestInstantFormIsURLValuesEncoding(t *testing.T) {
	e, err := newInstantEndpoint("http://prometheus:9090", nil, "5s")
	require.NoError(t, err)
	for _, q := range []string{
		"up",
		Linkerd()[RequestSuccessRate],
		`sum(rate(x{a=~"b|c", d!="e f"}[1m])) / 2 + 3 * -4 % 5 ^ 6 # ~_.-`,
		"é\x00\n\t\xff+&=?#%",
		"",
	} {
		want := url.Values{"query": {q}, "timeout": {"5s"}}.Encode()
		assert.Equal(t, want, e.form(q), q)
	}
}

// FuzzInstantForm: the form is url.Values' encoding for any query.
func FuzzInstantForm(f *testing.F) {
	f.Add(`sum(rate(x{a="b"}[1m]))`)
	f.Add("é \x00\xff+&")
	e, err := newInstantEndpoint("http://prometheus:9090", nil, "5s")
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, q string) {
		assert.Equal(t, url.Values{"query": {q}, "timeout": {"5s"}}.Encode(), e.form(q))
	})
}

// The usual answer decodes without allocating.
func TestFastInstantDoesNotAllocate(t *testing.T) {
	body := []byte(promAnswer)
	var v float64
	var ok bool
	allocs := testing.AllocsPerRun(100, func() { v, ok = fastInstant(body) })
	require.True(t, ok)
	assert.Equal(t, 99.52380952380952, v)
	assert.Zero(t, allocs)
}

// fastAccepted are answers the fast decoder reads, with their number.
var fastAccepted = []struct {
	body string
	want float64
}{
	{promAnswer, 99.52380952380952},
	{scalarJSON("42.5"), 42.5},
	{" {\n \"data\" : {\"result\" : [ { \"value\" : [ 1 , \"-Inf\" ] , \"metric\" : { \"pod\" : \"a\\\"b\" } } ] , \"resultType\" : \"vector\"} , \"status\" : \"success\" }\n", math.Inf(-1)},
	{`{"status":"success","data":{"resultType":"scalar","result":[-0.5,"1e3"],"stats":{"a":[1,2.5e-3,true,false,null,{"b":"\u00e9"}]}},"infos":[]}`, 1000},
	{`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job_1":""},"value":[1796049712,"NaN"]}]}}`, math.NaN()},
}

// fastDeclined are answers the fast decoder leaves to the general one.
var fastDeclined = []string{
	vectorJSON(),
	vectorJSON(series{map[string]string{"pod": "a"}, "1"}, series{map[string]string{"pod": "b"}, "2"}),
	matrixJSON("1"),
	errorJSON("bad_data", "parse error"),
	`{"status":"success","warnings":["w"],"data":{"resultType":"scalar","result":[1,"1"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]},"Data":{"resultType":"scalar","result":[1,"2"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]},"data":{"resultType":"scalar","result":[1,"2"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"],"RESULT":[1,"2"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}x`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1",2]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1e3,"1"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[01,"1"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":["1","1"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1\u0030"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"x"]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"],"histogram":null}]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"1pod":"a"},"value":[1,"1"]}]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":1},"value":[1,"1"]}]}}`,
	`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"}}]}}`,
	`{"st\u0061tus":"success","data":{"resultType":"scalar","result":[1,"1"]}}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]},"x":[1,]}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]},"x":"a` + "\n" + `"}`,
	`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]},"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	`<html>login</html>`,
	``,
}

func TestFastInstantAgreesWithTheGeneralDecoder(t *testing.T) {
	for _, tc := range fastAccepted {
		got, ok := fastInstant([]byte(tc.body))
		require.True(t, ok, tc.body)
		if math.IsNaN(tc.want) {
			assert.True(t, math.IsNaN(got), tc.body)
		} else {
			assert.Equal(t, tc.want, got, tc.body)
		}
		checkAgainstGeneral(t, []byte(tc.body))
	}
	for _, body := range fastDeclined {
		_, ok := fastInstant([]byte(body))
		assert.False(t, ok, body)
	}
}

// checkAgainstGeneral: when the fast decoder reads body, the general decoder reads the same
// number from it, without warnings.
func checkAgainstGeneral(t *testing.T, body []byte) {
	t.Helper()
	f, ok := fastInstant(body)
	if !ok {
		return
	}
	v, warnings, err := decodeAnswer(http.StatusOK, body)
	require.NoError(t, err, "%q", body)
	assert.Empty(t, warnings)
	g, err := singleValue(v)
	if math.IsNaN(f) {
		require.ErrorIs(t, err, canary.ErrNoData, "%q", body)
		return
	}
	require.NoError(t, err, "%q", body)
	assert.Equal(t, math.Float64bits(g), math.Float64bits(f), "%q", body)
}

// FuzzFastInstant: whatever the answer, the fast decoder never reads a number the general
// decoder would not.
func FuzzFastInstant(f *testing.F) {
	for _, tc := range fastAccepted {
		f.Add([]byte(tc.body))
	}
	for _, body := range fastDeclined {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAgainstGeneral(t, body)
	})
}

// An answer with warnings still gives its value; the warnings are logged.
func TestPrometheusInstantQueryLogsWarnings(t *testing.T) {
	body := `{"status":"success","warnings":["results may be partial"],"data":{"resultType":"scalar","result":[1796049712.625,"3"]}}`
	f := newPromFake(t, always(200, body))
	var mu sync.Mutex
	var logged []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{Verbosity: 1})
	p := newTestProm(t, f.URL, PrometheusOptions{Logger: log})
	v, err := p.Query(ctxFor(t, time.Minute), "up")
	require.NoError(t, err)
	assert.Equal(t, 3.0, v)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, logged, 1)
	assert.Contains(t, logged[0], "results may be partial")
}
