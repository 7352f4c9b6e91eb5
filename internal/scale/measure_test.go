package scale

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLatenessCountsTheWeightStepsAfterTheFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	writes := map[string][]time.Time{
		// out of order; the sixth write (the promotion) is not a weight step
		"a": {at(20.5), at(0), at(10), at(30.5), at(41), at(70)},
		"b": {at(3), at(12)},
	}
	got := Lateness(writes, 10*time.Second)
	assert.ElementsMatch(t, []time.Duration{0, 500 * time.Millisecond, 0, 500 * time.Millisecond, -time.Second}, got)
}

func TestLatenessByStepSummarisesEachStep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	writes := map[string][]time.Time{
		"a": {at(0), at(10), at(20.5), at(30.5), at(41), at(70)},
		"b": {at(3), at(12), at(22.25)},
	}
	assert.Equal(t, "step 2: p50=-1.00 p90=0.00 p99=0.00 max=0.00; step 3: p50=0.25 p90=0.50 p99=0.50 max=0.50; "+
		"step 4: p50=0.00 p90=0.00 p99=0.00 max=0.00; step 5: p50=0.50 p90=0.50 p99=0.50 max=0.50", LatenessByStep(writes, 10*time.Second))
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 198*time.Millisecond, Percentile(ds, 99))
	assert.Equal(t, 100*time.Millisecond, Percentile(ds, 50))
	assert.Equal(t, 3*time.Second, Percentile([]time.Duration{3 * time.Second, time.Second}, 99))
	assert.Equal(t, time.Duration(0), Percentile(nil, 99))
}

func TestLineHasEveryFigure(t *testing.T) {
	f := Figures{Tool: "canarykit", Rollouts: 20, P99Lateness: 80 * time.Millisecond, CPUPerStep: 4600 * time.Microsecond,
		RSSMiB: 53.4, ReqPerStep: 2.9, Watches: 26, PromConns: 20, Throttled: 0}
	assert.Equal(t, "scale tool=canarykit rollouts=20 p99_lateness_s=0.08 cpu_ms_per_step=4.60 rss_mib=53 req_per_step=2.90 watches=26 prom_conns=20 throttled=0", f.Line())
	f.Throttled = -1
	assert.Contains(t, f.Line(), "throttled=n/a")
}

func TestThrottledRequestsCountsTheWaitsAboveTheFirstBucket(t *testing.T) {
	metrics := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP rest_client_rate_limiter_duration_seconds Time the requests waited.
# TYPE rest_client_rate_limiter_duration_seconds histogram
rest_client_rate_limiter_duration_seconds_bucket{verb="GET",le="0.001"} 90
rest_client_rate_limiter_duration_seconds_bucket{verb="GET",le="0.005"} 95
rest_client_rate_limiter_duration_seconds_bucket{verb="GET",le="+Inf"} 97
rest_client_rate_limiter_duration_seconds_sum{verb="GET"} 0.3
rest_client_rate_limiter_duration_seconds_count{verb="GET"} 97
rest_client_rate_limiter_duration_seconds_bucket{verb="PATCH",le="0.001"} 10
rest_client_rate_limiter_duration_seconds_bucket{verb="PATCH",le="0.005"} 10
rest_client_rate_limiter_duration_seconds_bucket{verb="PATCH",le="+Inf"} 12
rest_client_rate_limiter_duration_seconds_sum{verb="PATCH"} 2.1
rest_client_rate_limiter_duration_seconds_count{verb="PATCH"} 12
`
	n, err := ThrottledRequests(strings.NewReader(metrics))
	require.NoError(t, err)
	assert.Equal(t, int64(7+2), n)

	_, err = ThrottledRequests(strings.NewReader("# TYPE go_goroutines gauge\ngo_goroutines 42\n"))
	assert.ErrorContains(t, err, "no rest_client_rate_limiter_duration_seconds", "a process that does not serve it")
	_, err = ThrottledRequests(strings.NewReader(`# TYPE rest_client_rate_limiter_duration_seconds histogram
rest_client_rate_limiter_duration_seconds_bucket{verb="GET",le="0.005"} 95
rest_client_rate_limiter_duration_seconds_bucket{verb="GET",le="+Inf"} 97
rest_client_rate_limiter_duration_seconds_sum{verb="GET"} 0.3
rest_client_rate_limiter_duration_seconds_count{verb="GET"} 97
`))
	assert.ErrorContains(t, err, "no bucket le=0.001")
}

func TestTokenWaitsReadsTheDriversOwnCount(t *testing.T) {
	n, err := TokenWaits(strings.NewReader(`# HELP canarykit_client_throttled_requests_total Requests of the driver that waited for its client rate limit.
# TYPE canarykit_client_throttled_requests_total counter
canarykit_client_throttled_requests_total 3
# TYPE go_goroutines gauge
go_goroutines 42
`))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	n, err = TokenWaits(strings.NewReader("# TYPE go_goroutines gauge\ngo_goroutines 42\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(-1), n, "a process that does not serve it (Flagger)")
}

func TestLatenessSplitCutsAtTheFirstQuery(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	at := func(n int) time.Time { return t0.Add(ms(n)) }
	writes := map[string][]time.Time{
		// out of order; the sixth write (the promotion) is not a weight step
		"a": {at(20500), at(0), at(10000), at(30500), at(40900), at(70000)},
		"b": {at(3000), at(12000)},
		"c": {at(0), at(10000)}, // no query: left out
	}
	queries := map[string][]time.Time{
		// the first query of each step counts; 50 s is no weight step's
		"a": {at(9750), at(9500), at(20250), at(30100), at(40500), at(40600), at(50000)},
		"b": {at(2000), at(11900)}, // 2 s: before the first write
	}
	got := LatenessSplit(writes, queries, 10*time.Second)
	assert.ElementsMatch(t, []Split{
		{Lateness: 0, Before: ms(-500), Between: ms(250), After: ms(250)},    // a, 0 → 10, from 9.5 to 9.75
		{Lateness: ms(500), Before: ms(250), Between: 0, After: ms(250)},     // a, 10 → 20.5, at 20.25
		{Lateness: 0, Before: ms(-400), Between: 0, After: ms(400)},          // a, 20.5 → 30.5, at 30.1
		{Lateness: ms(400), Before: 0, Between: ms(100), After: ms(300)},     // a, 30.5 → 40.9, from 40.5 to 40.6
		{Lateness: ms(-1000), Before: ms(-1100), Between: 0, After: ms(100)}, // b, 3 → 12, at 11.9
	}, got)
	for _, s := range got {
		assert.Equal(t, s.Lateness, s.Before+s.Between+s.After)
	}

	sum := SplitSummary(got)
	assert.Equal(t, "5 steps; before the first query: p50=-0.40 p90=0.25 p99=0.25 max=0.25; "+
		"from it to the last: p50=0.00 p90=0.25 p99=0.25 max=0.25; "+
		"from the last to the route write: p50=0.25 p90=0.40 p99=0.40 max=0.40; "+
		"the latest 1 (lateness from 0.50): before 0.25, between 0.00, after 0.25 (medians)", sum)
	assert.Equal(t, "no step ran a query", SplitSummary(nil))
}

func TestTargetOfNamesTheTargetAnObjectWasMadeFor(t *testing.T) {
	targets := map[string]bool{"app-0001": true, "app-0002": true}
	for _, c := range []struct{ resource, name, want string }{
		{"deployments", "app-0001", "app-0001"},
		{"deployments", "app-0001-primary", "app-0001"},
		{"services", "app-0002-canary", "app-0002"},
		{"leases", "app-0002-canarykit", "app-0002"},
		{"canaries", "app-0001", "app-0001"},
		{"events", "app-0001.18a2b3c4d5e6f708", "app-0001"},
		{"events", "app-0001-primary.18a2b3c4d5e6f708", "app-0001"},
		{"deployments", "app-0003", ""},                  // not a target
		{"leases", "canarykit-holder-1f2e", ""},          // a holder lease
		{"deployments", "", ""},                          // a list
		{"events", "app-0001", "app-0001"},               // an Event named without a suffix
		{"services", "app-0001-primary-canary", ""},      // one suffix only
		{"deployments", "app-0001.18a2b3c4d5e6f708", ""}, // a dot names an Event only
	} {
		assert.Equal(t, c.want, TargetOf(c.resource, c.name, targets), "%s %s", c.resource, c.name)
	}
}

func TestTickRequestsCountTheSteadyWeightSteps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// a: weight steps at 10, 20, 30, 40, 50 s, the promotion at 70 s; b: its step at 40 s held
	// a tick (no write), so its span covers 5 ticks; c: a release cut short
	writes := map[string][]time.Time{
		"a": {at(70), at(10), at(20), at(30), at(40), at(50)},
		"b": {at(12), at(22), at(32), at(52), at(62), at(82)},
		"c": {at(10), at(20.2), at(30)},
	}
	req := func(s float64, target, kind string) Request {
		return Request{Received: at(s), Target: target, Kind: kind}
	}
	reqs := []Request{
		req(0, "a", "create events"), req(0.1, "a", "update deployments"), // the release's start
		req(10, "a", "patch trafficsplits"), req(10.1, "a", "create events"), // the first step
		req(15.1, "a", "get canaries"), // the first span's edge: in it
		req(20, "a", "patch trafficsplits"), req(20.05, "a", "update canaries/status"), req(20.1, "a", "create events"),
		req(50, "a", "patch trafficsplits"), req(54.9, "a", "update canaries/status"),
		req(55, "a", "create events"),                                           // the last span's edge: out of it
		req(60, "a", "update deployments"), req(70, "a", "patch trafficsplits"), // the promotion
		req(42, "b", "update canaries/status"), // the held tick
		req(22, "b", "patch trafficsplits"), req(52, "b", "patch trafficsplits"),
		req(20, "c", "patch trafficsplits"), // too few steps to count
		req(20, "", "update leases"),        // no target
	}
	byKind, ticks := TickRequests(reqs, writes, 10*time.Second)
	assert.Equal(t, 4+5, ticks)
	assert.Equal(t, map[string]int{"get canaries": 1, "patch trafficsplits": 4, "update canaries/status": 3, "create events": 1}, byKind)
}

func TestEventDelaysAreFromRecordingToCreation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	event := func(first, created metav1.Time, count int32) corev1.Event {
		return corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created}, FirstTimestamp: first, Count: count}
	}
	got := EventDelays([]corev1.Event{
		event(at(10), at(10), 1),
		event(at(10), at(38), 1),
		event(at(20), at(21), 0),        // no count: written once
		event(at(10), at(90), 3),        // counted: left out
		event(metav1.Time{}, at(90), 1), // no first timestamp: left out
	})
	assert.Equal(t, []time.Duration{0, 28 * time.Second, time.Second}, got)
}

func TestParseToolEnvSplitsAndRefuses(t *testing.T) {
	got, err := parseToolEnv("GOMAXPROCS=1,GOGC=200,GODEBUG=a=1")
	require.NoError(t, err)
	require.Equal(t, []string{"GOMAXPROCS=1", "GOGC=200", "GODEBUG=a=1"}, got)
	got, err = parseToolEnv("")
	require.NoError(t, err)
	require.Empty(t, got)
	for _, bad := range []string{"GOGC", "=1", "GOGC=1,", "A B=1"} {
		_, err := parseToolEnv(bad)
		require.Error(t, err, bad)
	}
}

func TestGoMaxProcsReadsTheGoCollectorsGauge(t *testing.T) {
	n, err := GoMaxProcs(strings.NewReader("# HELP go_sched_gomaxprocs_threads The current runtime.GOMAXPROCS setting.\n" +
		"# TYPE go_sched_gomaxprocs_threads gauge\ngo_sched_gomaxprocs_threads 1\n"))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	n, err = GoMaxProcs(strings.NewReader("# TYPE go_goroutines gauge\ngo_goroutines 42\n"))
	require.NoError(t, err)
	require.EqualValues(t, -1, n)
}

func TestClientRatesListsTheBusiestFirstWithTheirRates(t *testing.T) {
	got := ClientRates(map[string]int{"the tool": 300, "kube-controller-manager": 1200, "the harness": 300}, time.Minute)
	assert.Equal(t, "kube-controller-manager 1200 (20.0/s), the harness 300 (5.0/s), the tool 300 (5.0/s)", got)
	assert.Empty(t, ClientRates(nil, time.Minute))
}
