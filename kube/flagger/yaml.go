package flagger

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Limits on a manifest's YAML tree, so that anchors and aliases cannot expand it without bound:
// the nodes of one document, or of all the documents of a stream together.
const maxYAMLNodes = 100_000

// parseYAML reads exactly one YAML document into a generic tree: mappings as map[string]any,
// sequences as []any, and scalars by YAML 1.2's core schema (only true and false are booleans:
// YAML 1.1's y, n, on, off, yes and no stay strings), integers as int64 (float64 beyond its
// range), other numbers as float64. A key given twice in one mapping is an error naming it and
// its path, and so is a second document. An empty input yields a nil tree.
func parseYAML(data []byte) (any, error) {
	budget := maxYAMLNodes
	return parseYAMLWithin(data, &budget)
}

// parseYAMLWithin is parseYAML taking its nodes from budget, which the documents of one
// stream share: each document's tree is kept until the stream is read.
func parseYAMLWithin(data []byte, budget *int) (any, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("line %d: a second YAML document; give one object per manifest", extra.Line)
	}
	return convertNode(&doc, "", budget)
}

func convertNode(n *yaml.Node, path string, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d YAML nodes (aliases expanded)", maxYAMLNodes)
	}
	at := func() string {
		if path == "" {
			return "the document"
		}
		return path
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convertNode(n.Content[0], path, budget)
	case yaml.AliasNode:
		return convertNode(n.Alias, path, budget)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := convertNode(c, fmt.Sprintf("%s[%d]", path, i), budget)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: %s: merge keys (<<) are not supported", k.Line, at())
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: %s: a mapping key must be a string", k.Line, at())
			}
			key := k.Value
			p := key
			if path != "" {
				p = path + "." + key
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("line %d: %s: key %q given twice", k.Line, p, key)
			}
			val, err := convertNode(v, p, budget)
			if err != nil {
				return nil, err
			}
			out[key] = val
		}
		return out, nil
	case yaml.ScalarNode:
		return convertScalar(n)
	}
	return nil, fmt.Errorf("line %d: %s: unexpected YAML node", n.Line, at())
}

func convertScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s is not a number", n.Line, shown(n.Value))
		}
		return f, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %s is not a number", n.Line, shown(n.Value))
		}
		return f, nil
	}
	return n.Value, nil // strings, timestamps, binary: as written
}

// exactInt returns v as an int64 when it is a whole number that converts exactly.
func exactInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}
