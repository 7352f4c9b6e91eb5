package dashboards

import (
	_ "embed" // the dashboard file
)

//go:embed canarykit.json
var canarykit []byte

// Canarykit returns the Grafana dashboard canarykit.json (a copy: the caller may keep it).
func Canarykit() []byte { return append([]byte(nil), canarykit...) }
