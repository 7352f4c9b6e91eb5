package kubetest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/canarykit/canarykit/canary"
)

// WeightMetrics is a canary.MetricProvider double for releases on a cluster without a mesh or a
// Prometheus (give it to kube/driver as Options.Metrics, or to canary.Config.Metrics): it
// answers each query with Value(query, weights), the weights being those Router reads for Target
// at that moment, i.e. the share of traffic the canary would be getting. A test makes a canary
// fail from a given weight on, or at once, without any traffic. Safe for concurrent use.
type WeightMetrics struct {
	// Router reads the target's route (the router the release writes, or one of the same kind).
	Router canary.MeshRouter
	// Target is the release's target.
	Target canary.Target
	// Value answers a query (the metric's query as rendered for the target) under weights w.
	Value func(query string, w canary.Weights) (float64, error)

	mu      sync.Mutex
	queries []WeightedQuery
}

// WeightedQuery is one query WeightMetrics answered.
type WeightedQuery struct {
	Query   string
	Weights canary.Weights
	Value   float64
	Err     error
}

var _ canary.MetricProvider = (*WeightMetrics)(nil)

// Query reads the target's weights and answers with Value.
func (m *WeightMetrics) Query(ctx context.Context, query string) (float64, error) {
	if m.Router == nil || m.Value == nil {
		return 0, errors.New("kubetest: WeightMetrics needs Router and Value")
	}
	w, err := m.Router.Weights(ctx, m.Target)
	if err != nil {
		return 0, fmt.Errorf("kubetest: read the weights of %s: %w", m.Target, err)
	}
	v, err := m.Value(query, w)
	m.mu.Lock()
	m.queries = append(m.queries, WeightedQuery{Query: query, Weights: w, Value: v, Err: err})
	m.mu.Unlock()
	return v, err
}

// Queries returns the queries answered so far, oldest first.
func (m *WeightMetrics) Queries() []WeightedQuery {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]WeightedQuery(nil), m.queries...)
}
