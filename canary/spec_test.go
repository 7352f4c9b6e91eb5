package canary_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/canarytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateReportsEveryProblemWithItsPath(t *testing.T) {
	cases := []struct {
		name string
		edit func(*canary.Spec)
		want []string
	}{
		{"stepWeight zero", func(s *canary.Spec) { s.StepWeight = 0 }, []string{"analysis.stepWeight: must be 1..100, got 0"}},
		{"stepWeight too big", func(s *canary.Spec) { s.StepWeight, s.MaxWeight = 120, 0 }, []string{"analysis.stepWeight: must be 1..100, got 120"}},
		{"stepWeight above maxWeight", func(s *canary.Spec) { s.StepWeight = 60 }, []string{"analysis.stepWeight: 60 exceeds analysis.maxWeight 50"}},
		{"maxWeight out of range", func(s *canary.Spec) { s.MaxWeight = 150 }, []string{"analysis.maxWeight: must be 1..100, got 150"}},
		{"negative interval", func(s *canary.Spec) { s.Interval = -time.Second }, []string{"analysis.interval: must be positive, got -1s"}},
		{"negative threshold", func(s *canary.Spec) { s.Threshold = -1 }, []string{"analysis.threshold: must be at least 1, got -1"}},
		{"negative progress deadline", func(s *canary.Spec) { s.ProgressDeadline = -time.Minute }, []string{"progressDeadlineSeconds: must be positive, got -1m0s"}},
		{"negative iterations", func(s *canary.Spec) { s.Iterations = -2 }, []string{"analysis.iterations: must not be negative, got -2"}},
		{"stepWeightPromotion out of range", func(s *canary.Spec) { s.StepWeightPromotion = 101 }, []string{"analysis.stepWeightPromotion: must be 0..100, got 101"}},
		{"stepWeights not increasing", func(s *canary.Spec) { s.StepWeight, s.MaxWeight, s.StepWeights = 0, 0, []int{10, 5, 200} },
			[]string{"analysis.stepWeights[1]: must be greater than the previous step 10, got 5", "analysis.stepWeights[2]: must be 1..100, got 200"}},
		{"stepWeights with stepWeight and maxWeight", func(s *canary.Spec) { s.StepWeights = []int{10, 20} },
			[]string{"analysis.stepWeight: set together with analysis.stepWeights; set one of them",
				"analysis.maxWeight: not used with analysis.stepWeights (the last step is the maximum); remove it"}},
		{"iterations with stepWeight", func(s *canary.Spec) { s.Iterations = 5 },
			[]string{"analysis.stepWeight: not used with analysis.iterations (blue/green or A/B testing); set one of them"}},
		{"match without iterations", func(s *canary.Spec) {
			s.Match = []canary.Match{{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}}}
		}, []string{"analysis.match: A/B testing needs analysis.iterations (the number of iterations before promotion)"}},
		{"match with bad conditions", func(s *canary.Spec) {
			s.StepWeight, s.MaxWeight, s.Iterations = 0, 0, 3
			s.Match = []canary.Match{{}, {Headers: map[string]canary.StringMatch{"a": {Exact: "x", Regex: "y"}, "b": {Regex: "(["}}}}
		}, []string{"analysis.match[0]: must set at least one condition: headers, uri, method, queryParams, authority, scheme, port, withoutHeaders, sourceLabels or sourceNamespace",
			"analysis.match[1].headers.a: must set exactly one of exact, prefix, suffix, regex (got 2)",
			"analysis.match[1].headers.b.regex: not an RE2 regular expression: error parsing regexp: missing closing ]: `[`"}},
		{"too many match conditions", func(s *canary.Spec) {
			s.StepWeight, s.MaxWeight, s.Iterations = 0, 0, 3
			for range canary.MaxMatches + 1 {
				s.Match = append(s.Match, canary.Match{Headers: map[string]canary.StringMatch{"x": {Exact: "y"}}})
			}
		}, []string{"analysis.match: at most 64 match conditions, got 65"}},
		{"match conditions beyond their bounds", func(s *canary.Spec) {
			s.StepWeight, s.MaxWeight, s.Iterations = 0, 0, 3
			many := map[string]canary.StringMatch{}
			for i := range canary.MaxMatchHeaders + 1 {
				many[strings.Repeat("h", i+1)] = canary.StringMatch{Exact: "y"}
			}
			s.Match = []canary.Match{{Headers: many}, {Headers: map[string]canary.StringMatch{
				strings.Repeat("n", 254): {Exact: "y"},
				"long":                   {Prefix: strings.Repeat("p", 1025)},
				"complex":                {Regex: `\pL{999}`},
			}}}
		}, []string{"analysis.match[0].headers: at most 64 header conditions, got 65",
			"analysis.match[1].headers.complex.regex: too complex: compiles to more than 1000 instructions",
			"analysis.match[1].headers.long.prefix: at most 1024 bytes, got 1025",
			`analysis.match[1].headers["` + strings.Repeat("n", 64) + `"…]: header name: at most 253 bytes, got 254`}},
		{"metric problems", func(s *canary.Spec) {
			s.Metrics = append(s.Metrics,
				canary.Metric{ThresholdRange: canary.AtLeast(1), Query: "up"},
				canary.Metric{Name: "request-duration", ThresholdRange: canary.AtMost(1), Query: "up"},
				canary.Metric{Name: "bad-range", ThresholdRange: canary.Between(5, 1), Query: "up", Interval: -time.Second},
				canary.Metric{Name: "bad-template", ThresholdRange: canary.AtLeast(1), Query: "{{ target "},
				canary.Metric{Name: "bad-policy", ThresholdRange: canary.AtLeast(1), Query: "up", OnNoData: "maybe"})
		}, []string{"analysis.metrics[2].name: required",
			`analysis.metrics[3].name: duplicate metric "request-duration"`,
			"analysis.metrics[4].interval: must be positive, got -1s",
			"analysis.metrics[4].thresholdRange: min 5 is greater than max 1",
			"analysis.metrics[5].query: does not parse: template: bad-template:1: unclosed action",
			`analysis.metrics[6].onNoData: must be one of fail, hold, ignore; got "maybe"`}},
		{"webhook problems", func(s *canary.Spec) {
			s.Webhooks = append(s.Webhooks,
				canary.Webhook{Name: "x", Type: "pre-flight", URL: "http://a/"},
				canary.Webhook{Type: canary.HookRollout, URL: "ftp://a/"},
				canary.Webhook{Name: "load-test", URL: "http://a/", Timeout: -time.Second, Retries: -1})
		}, []string{`analysis.webhooks[2].type: unknown hook type "pre-flight" (want one of confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event)`,
			"analysis.webhooks[3].name: required",
			`analysis.webhooks[3].url: must be an absolute http(s) URL, got "ftp://a/"`,
			`analysis.webhooks[4].name: duplicate rollout webhook "load-test"`,
			"analysis.webhooks[4].timeout: must be positive, got -1s",
			"analysis.webhooks[4].retries: must not be negative, got -1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := seedSpec()
			c.edit(&spec)
			err := spec.Validate()
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			var ve *canary.ValidationError
			require.True(t, errors.As(err, &ve))
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Error())
			}
			assert.Equal(t, c.want, got)

			// New refuses it too, and touches nothing
			env := healthyEnv()
			_, err = env.New(spec)
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.Zero(t, len(env.Calls()), "nothing is called")
		})
	}
	require.NoError(t, seedSpec().Validate())
}

func TestNewValidatesTargetAndWiring(t *testing.T) {
	env := healthyEnv()
	spec := seedSpec()
	spec.Metrics = append(spec.Metrics,
		canary.Metric{Name: "error-rate", ThresholdRange: canary.AtMost(1)},
		canary.Metric{Name: "custom", Query: "up"},
		canary.Metric{Name: "vars", ThresholdRange: canary.AtMost(1), Query: "x{d={{ variables.missing }}}"})
	cfg := env.Config(spec)
	cfg.Target = canary.Target{Namespace: "Test", Name: "", Ingress: "Public_Ingress", Match: []canary.Match{{}}}
	cfg.Router = nil
	cfg.Webhooks = nil
	cfg.Gates = []canary.Hook{{Type: "nope"}}
	_, err := canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	for _, want := range []string{
		`targetRef.namespace: "Test" is not a valid Kubernetes name (lowercase RFC 1123)`,
		"targetRef.name: required",
		"target.match: set analysis.match instead",
		`ingressRef.name: "Public_Ingress" is not a valid Ingress name`,
		"config.Router: required",
		`analysis.metrics[2].query: required: "error-rate" is not a built-in check (config.Builtins) or a checker (config.Checkers)`,
		"analysis.metrics[3].thresholdRange: must set min or max",
		"config.Webhooks: required: analysis.webhooks has 2 webhooks and nothing runs them",
		"config.Gates[0].Name: required",
		`config.Gates[0].Type: unknown hook type "nope"`,
		"config.Gates[0].Gate: required",
	} {
		assert.Contains(t, err.Error(), want)
	}

	// template variables are resolved at New: a missing key is reported before anything runs
	cfg = env.Config(spec)
	cfg.Builtins = map[string]string{"error-rate": "errors", "request-success-rate": "x", "request-duration": "y"}
	cfg.Checkers = map[string]canary.Checker{"custom": canary.CheckerFunc(nil)}
	_, err = canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Contains(t, err.Error(), `analysis.metrics[4].query: render query template: template: query:1:7: executing "query" at <variables>: map has no entry for key "missing"`)
	assert.Zero(t, len(env.Calls()))
}

// The apex, primary and canary Services are named after service.name, or the target's name
// without it: a name that cannot name a Service is refused at its field, before Run writes
// anything.
func TestNewRefusesNamesServicesCannotHave(t *testing.T) {
	long := "a" + strings.Repeat("b", 55) // 56 characters: "-primary" takes it past 63
	for _, tc := range []struct {
		target canary.Target
		want   string // "" for a valid target
	}{
		{canary.Target{Namespace: "test", Name: "podinfo", Service: "web.other"},
			`service.name: "web.other" is not a valid Service name: want a DNS-1035 label`},
		{canary.Target{Namespace: "test", Name: "podinfo", Service: "1web"}, `service.name: "1web" is not a valid Service name`},
		{canary.Target{Namespace: "test", Name: "podinfo", Service: long}, `so that "` + long + `-primary" fits in 63`},
		{canary.Target{Namespace: "test", Name: "web.v2"},
			`targetRef.name: "web.v2" names the apex Service when service.name is not set, and is not a valid Service name`},
		{canary.Target{Namespace: "test", Name: "1app"}, `targetRef.name: "1app" names the apex Service when service.name is not set`},
		{canary.Target{Namespace: "test", Name: "web.v2", Service: "web"}, ""},
		{canary.Target{Namespace: "test", Name: "1app", Service: "app"}, ""},
		{canary.Target{Namespace: "test", Name: "podinfo", Service: long[:55]}, ""},
	} {
		t.Run(tc.target.Name+"/"+tc.target.Service, func(t *testing.T) {
			cfg := healthyEnv().Config(seedSpec())
			cfg.Target = tc.target
			_, err := canary.New(cfg)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			assert.ErrorContains(t, err, tc.want)
			var ve *canary.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Len(t, ve.Problems, 1, "one problem, at one field")
		})
	}
}

func TestSpecDefaultsAndSteps(t *testing.T) {
	env := canarytest.NewEnv(canary.Target{})
	r, err := env.New(canary.Spec{StepWeight: 10, Metrics: []canary.Metric{{Name: "request-success-rate", ThresholdRange: canary.AtLeast(99)}},
		Webhooks: []canary.Webhook{{Name: "h", URL: "http://h/"}}})
	require.NoError(t, err)
	s := r.Spec()
	assert.Equal(t, canary.DefaultInterval, s.Interval)
	assert.Equal(t, 1, s.Threshold)
	assert.Equal(t, 100, s.MaxWeight)
	assert.Equal(t, 600*time.Second, s.ProgressDeadline)
	assert.Equal(t, time.Minute, s.Metrics[0].Interval)
	assert.Equal(t, canary.HookRollout, s.Webhooks[0].Type)
	assert.Equal(t, 10*time.Second, s.Webhooks[0].Timeout)
	assert.Equal(t, canary.StrategyCanary, s.Strategy())
	assert.Equal(t, canary.StrategyBlueGreen, canary.Spec{Iterations: 3}.Strategy())
	assert.Equal(t, canary.StrategyABTesting, canary.Spec{Iterations: 3, Match: []canary.Match{{}}}.Strategy())
}

func TestRangeAndWeights(t *testing.T) {
	r := canary.Between(1, 5)
	assert.True(t, r.Contains(1))
	assert.True(t, r.Contains(5))
	assert.False(t, r.Contains(0.99))
	assert.Equal(t, "0.50 < 1", r.Violation(0.5))
	assert.Equal(t, "6.25 > 5", r.Violation(6.25))
	assert.Empty(t, r.Violation(3))
	assert.Equal(t, "[1, 5]", r.String())
	assert.Equal(t, ">= 99.50", canary.AtLeast(99.5).String())
	assert.True(t, canary.Range{}.Contains(-1e9))

	require.NoError(t, canary.CanaryWeight(30).Validate())
	assert.Equal(t, canary.Weights{Primary: 70, Canary: 30}, canary.CanaryWeight(30))
	require.ErrorIs(t, canary.Weights{Primary: 60, Canary: 30}.Validate(), canary.ErrInvalidWeights)
	require.ErrorIs(t, canary.Weights{Primary: 120, Canary: -20}.Validate(), canary.ErrInvalidWeights)

	tg := canary.Target{Namespace: "test", Name: "podinfo"}
	assert.Equal(t, "podinfo.test", tg.String())
	assert.Equal(t, "podinfo-primary", tg.PrimaryName())
	assert.Equal(t, "podinfo-canary", tg.CanaryService())
	tg.Service = "web"
	assert.Equal(t, "web-primary", tg.PrimaryService())
	assert.Equal(t, "web", tg.ApexService())
}

func TestCompactQuery(t *testing.T) {
	for in, want := range map[string]string{
		"\n\tsum(\n\t\trate(x[1m])\n\t)\n":            "sum( rate(x[1m]) )",
		`x{a="two  spaces\n",b='  '} /   y`:           `x{a="two  spaces\n",b='  '} / y`,
		`x{a="esc \"  q\"  "}   +  1`:                 `x{a="esc \"  q\"  "} + 1`,
		"label_replace(x, `a  b`,  \"\", \"\", \"\")": "label_replace(x, `a  b`, \"\", \"\", \"\")",
		"up # is it?\n  or vector(0)":                 "up or vector(0)",
		"":                                            "",
	} {
		assert.Equal(t, want, canary.CompactQuery(in), in)
	}
}

func TestQueryTemplates(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1m", 30 * time.Second: "30s", 90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1500ms", 0: "0s",
		2*time.Hour + 5*time.Second: "2h5s",
	} {
		assert.Equal(t, want, canary.PromDuration(d))
	}
	vars := canary.VarsFor(canary.Target{Namespace: "test", Name: "podinfo", Service: "web"},
		canary.Metric{Interval: 30 * time.Second, Variables: map[string]string{"code": "5.."}})
	q, err := canary.RenderQuery(`{{ name }}|{{ namespace }}|{{ target }}|{{ service }}|{{ interval }}|{{ variables.code }}`, vars)
	require.NoError(t, err)
	assert.Equal(t, "podinfo|test|podinfo|web|30s|5..", q)
	_, err = canary.RenderQuery(`{{ variables.nope }}`, vars)
	require.ErrorContains(t, err, `map has no entry for key "nope"`)
	_, err = canary.RenderQuery(`{{ unknown }}`, vars)
	require.ErrorContains(t, err, `function "unknown" not defined`)

	// the engine knows no query language: a query is rendered as written
	q, err = canary.RenderQuery("sum(\n  rate(x{app=\"{{ target }}\"}[{{ interval }}])  # per second\n)", vars)
	require.NoError(t, err)
	assert.Equal(t, "sum(\n  rate(x{app=\"podinfo\"}[30s])  # per second\n)", q)
}

// switchingRouter can only send all traffic to one side.
type switchingRouter struct{ *canarytest.Router }

func (switchingRouter) SwitchesOnly() bool { return true }

func TestSwitchingRouterNeedsBlueGreen(t *testing.T) {
	env := healthyEnv()
	cfg := env.Config(seedSpec())
	cfg.Router = switchingRouter{env.Router}
	_, err := canary.New(cfg)
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.ErrorContains(t, err, "config.Router: switches all traffic at once (no weighted split)")
	spec := seedSpec()
	spec.StepWeight, spec.MaxWeight, spec.Iterations = 0, 0, 3
	cfg = env.Config(spec)
	cfg.Router = switchingRouter{env.Router}
	_, err = canary.New(cfg)
	require.NoError(t, err)
}
