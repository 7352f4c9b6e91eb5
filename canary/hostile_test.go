package canary_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bounds that hostile or careless values used to slip through: each refused by field path.
func TestValidateRefusesUnboundedValues(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		edit func(*canary.Spec)
		want string
	}{
		{"NaN min", func(s *canary.Spec) { s.Metrics[0].ThresholdRange = canary.AtLeast(nan) },
			"analysis.metrics[0].thresholdRange.min: must be a finite number, got NaN"},
		{"NaN max", func(s *canary.Spec) { s.Metrics[1].ThresholdRange = canary.AtMost(nan) },
			"analysis.metrics[1].thresholdRange.max: must be a finite number, got NaN"},
		{"+Inf max", func(s *canary.Spec) { s.Metrics[1].ThresholdRange = canary.Between(0, inf) },
			"analysis.metrics[1].thresholdRange.max: must be a finite number, got +Inf"},
		{"-Inf min", func(s *canary.Spec) { s.Metrics[0].ThresholdRange = canary.AtLeast(-inf) },
			"analysis.metrics[0].thresholdRange.min: must be a finite number, got -Inf"},
		{"1ns interval", func(s *canary.Spec) { s.Interval = time.Nanosecond },
			"analysis.interval: must be at least 100ms, got 1ns"},
		{"1ms metric interval", func(s *canary.Spec) { s.Metrics[0].Interval = time.Millisecond },
			"analysis.metrics[0].interval: must be at least 1s, got 1ms"},
		{"retries for years", func(s *canary.Spec) { s.Webhooks[0].Retries = 100000000 },
			"analysis.webhooks[0].retries: must be at most 20, got 100000000"},
		{"range loop", func(s *canary.Spec) { s.Metrics[0].Query = "{{ range 10000000 }}x{{ end }}" },
			"analysis.metrics[0].query: query template must not loop (range)"},
		{"nested range", func(s *canary.Spec) {
			s.Metrics[0].Query = "{{ if true }}{{ range 1000 }}{{ range 1000 }}x{{ end }}{{ end }}{{ end }}"
		}, "analysis.metrics[0].query: query template must not loop (range)"},
		{"with", func(s *canary.Spec) { s.Metrics[0].Query = "{{ with target }}{{ . }}{{ end }}" },
			"analysis.metrics[0].query: query template must not use with"},
		{"define", func(s *canary.Spec) { s.Metrics[0].Query = `{{ define "x" }}y{{ end }}{{ template "x" }}` },
			"analysis.metrics[0].query: query template must not define templates (define, block)"},
		{"block", func(s *canary.Spec) { s.Metrics[0].Query = `{{ block "x" . }}y{{ end }}` },
			"analysis.metrics[0].query: query template must not define templates (define, block)"},
		{"call", func(s *canary.Spec) { s.Metrics[0].Query = `{{ call target }}` },
			`analysis.metrics[0].query: query template must not call "call" (allowed: variables, index, printf, comparisons)`},
		{"printf width", func(s *canary.Spec) { s.Metrics[0].Query = `{{ printf "%999999999d" 1 }}` },
			`analysis.metrics[0].query: query template: printf width or precision above 256 in "%999999999d"`},
		{"printf precision", func(s *canary.Spec) { s.Metrics[0].Query = `{{ printf "%.1000f" 1.0 }}` },
			`analysis.metrics[0].query: query template: printf width or precision above 256 in "%.1000f"`},
		{"printf star", func(s *canary.Spec) { s.Metrics[0].Query = `{{ printf "%*d" 100000000 1 }}` },
			`analysis.metrics[0].query: query template: printf width or precision from an argument (*) in "%*d"`},
		{"printf variable format", func(s *canary.Spec) { s.Metrics[0].Query = `{{ printf target 1 }}` },
			"analysis.metrics[0].query: query template: printf's format must be a constant string"},
		{"huge template", func(s *canary.Spec) { s.Metrics[0].Query = strings.Repeat("x", canary.MaxQueryLength+1) },
			"analysis.metrics[0].query: query template is 65537 bytes, more than 65536"},
		{"webhook URL with credentials", func(s *canary.Spec) { s.Webhooks[0].URL = "ftp://user:s3cret@h/?token=t0k" },
			`analysis.webhooks[0].url: must be an absolute http(s) URL, got "ftp://redacted@h/?redacted"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := seedSpec()
			c.edit(&s)
			err := s.Validate()
			require.ErrorIs(t, err, canary.ErrInvalidSpec)
			var ve *canary.ValidationError
			require.ErrorAs(t, err, &ve)
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.Error())
			}
			assert.Equal(t, []string{c.want}, got)
			assert.NotContains(t, err.Error(), "s3cret")
			assert.NotContains(t, err.Error(), "t0k")
		})
	}
}

// canary.New refuses NaN bounds too (they are what made everything pass).
func TestNewRefusesNaNThreshold(t *testing.T) {
	env := healthyEnv()
	s := seedSpec()
	s.Metrics[0].ThresholdRange = canary.AtLeast(math.NaN())
	_, err := canary.New(env.Config(s))
	require.ErrorIs(t, err, canary.ErrInvalidSpec)
	assert.Contains(t, err.Error(), "analysis.metrics[0].thresholdRange.min: must be a finite number, got NaN")
}

func TestQueryTemplatesStayUsable(t *testing.T) {
	vars := canary.QueryVars{Namespace: "test", Target: "podinfo", Interval: "1m", Variables: map[string]string{"k": "v"}}
	for text, want := range map[string]string{
		`rate(x{ns="{{ namespace }}",d=~"{{ target }}"}[{{ interval }}])`: `rate(x{ns="test",d=~"podinfo"}[1m])`,
		`{{ variables.k }}/{{ index variables "k" }}`:                     `v/v`,
		`{{ if eq target "podinfo" }}a{{ else }}b{{ end }}`:               `a`,
		`{{ printf "%-8s|%.2f" target 1.5 }}`:                             `podinfo |1.50`,
		`{{/* comment */}}{{ $t := target }}{{ $t }}`:                     `podinfo`,
	} {
		got, err := canary.RenderQuery(text, vars)
		require.NoError(t, err, text)
		assert.Equal(t, want, got, text)
	}
}

func TestRenderQueryBoundsOutput(t *testing.T) {
	big := strings.Repeat("v", 40<<10)
	vars := canary.QueryVars{Variables: map[string]string{"k": big}}
	_, err := canary.RenderQuery(`{{ variables.k }}{{ variables.k }}`, vars)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rendered query is longer than 65536 bytes")
	_, err = canary.RenderQuery(`{{ range 10000000 }}x{{ end }}`, vars)
	assert.ErrorContains(t, err, "must not loop")
	got, err := canary.RenderQuery(`{{ variables.k }}`, vars)
	require.NoError(t, err)
	assert.Len(t, got, 40<<10)
}

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/X":        "https://hooks.slack.com/services/T/B/X",
		"https://user:pass@h/p?token=abc#frag":          "https://redacted@h/p?redacted",
		"https://tok@h/":                                "https://redacted@h/",
		"http://us er:pa ss@h:99999999999/%zz?token=ab": "http://redacted",
		"::user:pass@host?x=y":                          "redacted",
		"prom:9090@user:hunter2":                        "redacted",
		"hooks.slack.com/services/T/B/X?token=s3cret":   "hooks.slack.com/services/T/B/X?redacted",
	} {
		assert.Equal(t, want, canary.RedactURL(raw), raw)
	}
}
