package webhooktest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/canarykit/canarykit/webhook"
)

// Command is a task a LoadTester received at "/".
type Command struct {
	// Payload is the hook call that carried the command.
	Payload webhook.Payload
	// Type is metadata "type": "cmd" (the loadtester's default, run in the background) or a
	// blocking type (bash, helm, helmv3, kubectl).
	Type string
	// Cmd is metadata "cmd".
	Cmd string
	// Blocking is true for the types whose outcome is the hook's answer.
	Blocking bool
}

// Canary returns "name.namespace", the loadtester's key.
func (c Command) Canary() string { return c.Payload.Name + "." + c.Payload.Namespace }

// blockingTypes are the loadtester's task types that run before it answers.
var blockingTypes = map[string]bool{"bash": true, "helm": true, "helmv3": true, "kubectl": true}

// LoadTester answers hook calls the way flagger-loadtester does, keeping its gates in memory
// (like the loadtester, which loses them on restart):
//
//	POST /                 type bash|helm|helmv3|kubectl: blocking, metadata.cmd as given
//	                       ("" when absent), 200 when Run succeeds (output when metadata
//	                       returnCmdOutput=true), 500 with the error otherwise; type cmd
//	                       (default): metadata.cmd required (else 400), 202, recorded
//	/gate/approve          200            /gate/halt      403
//	/gate/check            200 if the gate of name.namespace is open, else 403
//	/gate/open|close       202, opens or closes it
//	/rollback/check        200 if a rollback of name.namespace is requested, else 403
//	/rollback/open|close   202
//	/healthz               200
//
// A malformed payload gets 400, as do the loadtester's concord and ngrinder tasks, which are
// not emulated. Commands are recorded, never executed. The zero value is
// ready to use; safe for concurrent use.
type LoadTester struct {
	// Run decides how a blocking command ends: nil error → 200 (with output when the hook asks
	// for it), error → 500 with the error text. Nil succeeds with no output.
	Run func(Command) (output string, err error)
	// Verifier, if set, answers 401 to requests without a valid signature (recorded too).
	Verifier *webhook.Verifier

	mu       sync.Mutex
	gates    map[string]bool
	commands []Command
	requests []Request
}

// Start serves the LoadTester on loopback until the test ends and returns its URL.
func (lt *LoadTester) Start(t testing.TB) string { return serve(t, lt) }

// ServeHTTP answers one request.
func (lt *LoadTester) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, decodeErr := readRequest(r)
	status, body := lt.answer(r.URL.Path, req, decodeErr)
	req.Status = status
	lt.mu.Lock()
	lt.requests = append(lt.requests, req)
	lt.mu.Unlock()
	write(w, status, body)
}

func (lt *LoadTester) answer(path string, req Request, decodeErr error) (int, string) {
	if err := verify(lt.Verifier, req); err != nil {
		return http.StatusUnauthorized, err.Error()
	}
	switch path {
	case "/healthz":
		return http.StatusOK, "OK"
	case "/gate/approve":
		return http.StatusOK, "OK"
	case "/gate/halt":
		return http.StatusForbidden, "Forbidden"
	}
	if decodeErr != nil {
		return http.StatusBadRequest, ""
	}
	p := req.Payload
	switch path {
	case "/gate/check":
		return lt.check(gateKey(p.Name, p.Namespace))
	case "/gate/open", "/gate/close":
		lt.set(gateKey(p.Name, p.Namespace), path == "/gate/open")
		return http.StatusAccepted, ""
	case "/rollback/check":
		return lt.check(rollbackKey(p.Name, p.Namespace))
	case "/rollback/open", "/rollback/close":
		lt.set(rollbackKey(p.Name, p.Namespace), path == "/rollback/open")
		return http.StatusAccepted, ""
	}
	return lt.task(p)
}

// task handles a command submitted at "/".
func (lt *LoadTester) task(p webhook.Payload) (int, string) {
	if len(p.Metadata) == 0 {
		return http.StatusBadRequest, "metadata not found in payload"
	}
	typ, ok := p.Metadata["type"]
	if !ok {
		typ = "cmd"
	}
	if typ != "cmd" && !blockingTypes[typ] {
		return http.StatusBadRequest, "unknown task type " + typ
	}
	// a background task needs its cmd; a blocking one runs it as given, "" when absent (the
	// loadtester runs `bash -c ""` then, which succeeds)
	cmd, ok := p.Metadata["cmd"]
	if !ok && !blockingTypes[typ] {
		return http.StatusBadRequest, "cmd not found in metadata"
	}
	c := Command{Payload: p, Type: typ, Cmd: cmd, Blocking: blockingTypes[typ]}
	lt.mu.Lock()
	lt.commands = append(lt.commands, c)
	lt.mu.Unlock()
	if !c.Blocking {
		return http.StatusAccepted, ""
	}
	var out string
	var err error
	if lt.Run != nil {
		out, err = lt.Run(c)
	}
	if err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	if rtn, _ := strconv.ParseBool(p.Metadata["returnCmdOutput"]); rtn {
		return http.StatusOK, out
	}
	return http.StatusOK, ""
}

func (lt *LoadTester) check(key string) (int, string) {
	lt.mu.Lock()
	open := lt.gates[key]
	lt.mu.Unlock()
	if open {
		return http.StatusOK, "Approved"
	}
	return http.StatusForbidden, "Forbidden"
}

func (lt *LoadTester) set(key string, open bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.gates == nil {
		lt.gates = map[string]bool{}
	}
	lt.gates[key] = open
}

func gateKey(name, namespace string) string     { return fmt.Sprintf("%s.%s", name, namespace) }
func rollbackKey(name, namespace string) string { return "rollback." + gateKey(name, namespace) }

// OpenGate opens the gate of name.namespace, as POST /gate/open does.
func (lt *LoadTester) OpenGate(name, namespace string) { lt.set(gateKey(name, namespace), true) }

// CloseGate closes the gate of name.namespace, as POST /gate/close does.
func (lt *LoadTester) CloseGate(name, namespace string) { lt.set(gateKey(name, namespace), false) }

// GateOpen reports whether the gate of name.namespace is open.
func (lt *LoadTester) GateOpen(name, namespace string) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.gates[gateKey(name, namespace)]
}

// RequestRollback asks for a rollback of name.namespace, as POST /rollback/open does.
func (lt *LoadTester) RequestRollback(name, namespace string) {
	lt.set(rollbackKey(name, namespace), true)
}

// CancelRollback withdraws it, as POST /rollback/close does.
func (lt *LoadTester) CancelRollback(name, namespace string) {
	lt.set(rollbackKey(name, namespace), false)
}

// Commands returns every command received at "/", in order.
func (lt *LoadTester) Commands() []Command {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return slices.Clone(lt.commands)
}

// Requests returns every request received, in order, with the status answered.
func (lt *LoadTester) Requests() []Request {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return slices.Clone(lt.requests)
}

// RequestsTo returns the requests received at path.
func (lt *LoadTester) RequestsTo(path string) []Request {
	var out []Request
	for _, r := range lt.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}
