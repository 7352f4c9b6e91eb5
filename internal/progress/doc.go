// Package progress formats a Rollout's events for people watching a release in a terminal:
// like a line of `kubectl describe canary`, with a weight bar on weight changes and every
// check's value against its threshold.
package progress
