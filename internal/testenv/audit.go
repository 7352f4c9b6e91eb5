package testenv

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// auditMarkPrefix names the namespaces that marks GET (they do not exist: the GET is a 404
// that the audit log records like any other request).
const auditMarkPrefix = "canarykit-audit-mark-"

// AuditMark is a point in the audit log: the requests a test makes after AuditMark returns
// lie after it.
type AuditMark struct {
	offset int64 // end of the mark's RequestReceived line
}

// AuditEvent is one API request from the audit log.
type AuditEvent struct {
	AuditID     string
	User        string
	UserAgent   string
	Verb        string // get, list, watch, create, update, patch, delete, ...
	APIGroup    string
	Resource    string
	Subresource string
	Namespace   string
	Name        string
	RequestURI  string
	Code        int // response code; 0 while the request has not completed
	// Complete: the log has the request's ResponseComplete (or Panic) stage. A watch has a
	// code once its response starts, and is complete only when it ends.
	Complete bool
	Received time.Time
	// Completed is when the API server had sent the answer (the ResponseComplete stage's
	// timestamp); zero while the request has not completed.
	Completed time.Time
}

// auditLine is the part of an audit.k8s.io/v1 Event the bed reads.
type auditLine struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time `json:"stageTimestamp"`
}

func (l auditLine) isMark() bool {
	return l.ObjectRef != nil && l.ObjectRef.Resource == "namespaces" && strings.HasPrefix(l.ObjectRef.Name, auditMarkPrefix)
}

// AuditMark makes a marker request and waits until the audit log records it.
func (e *Env) AuditMark(t testing.TB) AuditMark {
	t.Helper()
	if e.auditLog == "" {
		t.Fatal("testenv: the bed has no audit log (Options.Audit)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var start int64
	if st, err := os.Stat(e.auditLog); err == nil {
		start = st.Size()
	}
	name := fmt.Sprintf("%s%d-%s", auditMarkPrefix, e.auditMarks.Add(1), randomSuffix())
	_, err := e.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("audit mark request: want NotFound, got %v", err)
	}
	var mark AuditMark
	err = poll(ctx, func(context.Context) (bool, error) {
		found := false
		err := e.scanAudit(start, func(l auditLine, end int64) bool {
			if l.Stage == "RequestReceived" && l.ObjectRef != nil && l.ObjectRef.Name == name {
				mark.offset, found = end, true
				return false
			}
			return true
		})
		return found, err
	})
	if err != nil {
		t.Fatalf("wait for audit mark %s: %v", name, err)
	}
	return mark
}

// AuditSince returns the requests received after mark and before a closing mark it makes now.
func (e *Env) AuditSince(t testing.TB, mark AuditMark) AuditEvents {
	t.Helper()
	return e.AuditBetween(t, mark, e.AuditMark(t))
}

// AuditBetween returns the requests received between two marks, one event per audit ID, with
// their response codes (0 for a request still running, such as a watch). Marks themselves are
// left out.
func (e *Env) AuditBetween(t testing.TB, from, to AuditMark) AuditEvents {
	t.Helper()
	// A request's ResponseComplete line is written just after its answer has been sent, so
	// the last codes may lag a little: re-read briefly until they are all there.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var events AuditEvents
	var readErr error
	_ = poll(ctx, func(context.Context) (bool, error) {
		events, readErr = e.readAudit(from.offset, to.offset)
		if readErr != nil {
			return false, readErr
		}
		for _, ev := range events {
			if ev.Code == 0 && ev.Verb != "watch" {
				return false, nil
			}
		}
		return true, nil
	})
	if readErr != nil {
		t.Fatalf("read audit log: %v", readErr)
	}
	return events
}

// AuditLog returns every request in the audit log so far; see AuditEvents.Window.
func (e *Env) AuditLog(t testing.TB) AuditEvents {
	t.Helper()
	if e.auditLog == "" {
		t.Fatal("testenv: the bed has no audit log (Options.Audit)")
	}
	events, err := e.readAudit(0, -1)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	return events
}

// readAudit collects requests whose RequestReceived line ends in (from, to] (to < 0: no
// bound), and their response codes from anywhere later in the log.
func (e *Env) readAudit(from, to int64) (AuditEvents, error) {
	var events AuditEvents
	index := map[string]int{}
	err := e.scanAudit(from, func(l auditLine, end int64) bool {
		if l.isMark() {
			return true
		}
		if i, ok := index[l.AuditID]; ok {
			if l.ResponseStatus != nil && events[i].Code == 0 {
				events[i].Code = l.ResponseStatus.Code
			}
			if r := l.ObjectRef; r != nil && events[i].Name == "" {
				// a create's object has its name in the body, which the API server has read
				// only by the later stages
				events[i].Name = r.Name
			}
			if l.Stage == "ResponseComplete" || l.Stage == "Panic" {
				events[i].Complete, events[i].Completed = true, l.StageTimestamp
			}
			return true
		}
		if to >= 0 && end > to {
			return true // completions of earlier requests may still follow
		}
		if l.Stage != "RequestReceived" {
			return true // a request received before from
		}
		ev := AuditEvent{
			AuditID: l.AuditID, User: l.User.Username, UserAgent: l.UserAgent, Verb: l.Verb,
			RequestURI: l.RequestURI, Received: l.RequestReceivedTimestamp,
		}
		if r := l.ObjectRef; r != nil {
			ev.APIGroup, ev.Resource, ev.Subresource, ev.Namespace, ev.Name = r.APIGroup, r.Resource, r.Subresource, r.Namespace, r.Name
		}
		index[l.AuditID] = len(events)
		events = append(events, ev)
		return true
	})
	return events, err
}

// scanAudit calls fn with each complete line from offset on and the offset where it ends,
// until fn returns false. Lines that do not parse (a partial first line) are skipped.
func (e *Env) scanAudit(offset int64, fn func(l auditLine, end int64) bool) error {
	f, err := os.Open(e.auditLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 256*1024)
	pos := offset
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return nil // a line without newline is still being written
		}
		if err != nil {
			return err
		}
		pos += int64(len(line))
		var l auditLine
		if json.Unmarshal(line, &l) != nil || l.AuditID == "" {
			continue
		}
		if !fn(l, pos) {
			return nil
		}
	}
}

// AuditEvents are requests from the audit log, one per audit ID, in the order received.
type AuditEvents []AuditEvent

// ForUser keeps the requests made by user.
func (ev AuditEvents) ForUser(user string) AuditEvents {
	return ev.filter(func(e AuditEvent) bool { return e.User == user })
}

// Window keeps the requests received in [from, to).
func (ev AuditEvents) Window(from, to time.Time) AuditEvents {
	return ev.filter(func(e AuditEvent) bool { return !e.Received.Before(from) && e.Received.Before(to) })
}

// Calls drops watches: a watch is a stream an informer opens once and keeps, not a request
// made per operation, so per-step and per-tick budgets count the rest.
func (ev AuditEvents) Calls() AuditEvents {
	return ev.filter(func(e AuditEvent) bool { return e.Verb != "watch" })
}

// Watches keeps only the watches.
func (ev AuditEvents) Watches() AuditEvents {
	return ev.filter(func(e AuditEvent) bool { return e.Verb == "watch" })
}

func (ev AuditEvents) filter(keep func(AuditEvent) bool) AuditEvents {
	var out AuditEvents
	for _, e := range ev {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// AuditKey groups requests: who did which verb on which resource ("deployments",
// "deployments/status"; for non-resource requests the request path).
type AuditKey struct {
	User, Verb, Resource string
}

func (k AuditKey) String() string { return k.User + " " + k.Verb + " " + k.Resource }

// AuditCounts is a number of requests per key.
type AuditCounts map[AuditKey]int

// Counts counts the requests per (user, verb, resource).
func (ev AuditEvents) Counts() AuditCounts {
	c := AuditCounts{}
	for _, e := range ev {
		res := e.Resource
		switch {
		case res == "":
			res = e.RequestURI
		case e.Subresource != "":
			res += "/" + e.Subresource
		}
		c[AuditKey{User: e.User, Verb: e.Verb, Resource: res}]++
	}
	return c
}

// Total is the number of requests counted.
func (c AuditCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String lists the counts one per line, sorted, for test failure messages and benchmarks.
func (c AuditCounts) String() string {
	lines := make([]string, 0, len(c))
	for k, v := range c {
		lines = append(lines, fmt.Sprintf("%4d %s", v, k))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
