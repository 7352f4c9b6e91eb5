// Package webhooktest provides HTTP receivers for tests of hooks and notifications: a
// LoadTester that answers requests the way flagger-loadtester does (so the podinfo demo's hooks run
// unchanged against it), and a Receiver that records every request and answers with a
// scripted status.
//
// Both are http.Handlers whose zero value is ready to use; Start serves one on loopback for
// the length of a test. Neither executes commands: the LoadTester records them and lets the
// test decide how blocking ones end.
package webhooktest
