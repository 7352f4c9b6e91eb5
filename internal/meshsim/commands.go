package meshsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/canarykit/canarykit/webhook"
	"github.com/canarykit/canarykit/webhook/webhooktest"
)

// ExitError is a command that ended with a non-zero exit status.
type ExitError struct {
	Command string
	Status  int
	// Stderr is what the command reported.
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", e.Command, e.Status)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// stage runs one command of a pipeline on stdin and returns its stdout, exit status and
// stderr.
type stage func(ctx context.Context, args []string, stdin string) (stdout string, status int, stderr string)

// Run runs a command line the way flagger-loadtester's shell would, against the mesh: a
// pipeline of curl, grep and hey commands, such as the demo manifests'
//
//	curl -sd 'test' http://podinfo-canary.test:9898/token | grep token
//	hey -z 2m -q 10 -c 2 http://podinfo-canary.test:9898/
//
// It returns the last command's output, and an *ExitError when that command failed (the
// shell's rule without pipefail). curl supports -s -S -f -L -k, -d/--data/--data-raw/
// --data-binary, -X, -H, -A, -u, -m, -o /dev/null and -w '%{http_code}'; grep supports -q -i
// -v -c -E -F with a Go regular expression; hey is ParseHey's, printing hey's summary. Other
// commands, and shell features beyond quoting and pipes, are refused. ctx bounds the run.
func (m *Mesh) Run(ctx context.Context, cmdline string) (string, error) {
	stages, err := splitPipeline(cmdline)
	if err != nil {
		return "", err
	}
	var out string
	var status int
	var stderr string
	for _, args := range stages {
		var run stage
		switch args[0] {
		case "curl":
			run = m.curl
		case "grep":
			run = grep
		case "hey":
			run = m.hey
		default:
			return "", fmt.Errorf("command %q is not simulated (curl, grep and hey are)", args[0])
		}
		out, status, stderr = run(ctx, args[1:], out)
		if ctx.Err() != nil {
			return out, fmt.Errorf("%s: %w", args[0], ctx.Err())
		}
	}
	if status != 0 {
		return out, &ExitError{Command: cmdline, Status: status, Stderr: stderr}
	}
	return out, nil
}

// RunCommand runs a LoadTester's blocking command (webhooktest.LoadTester.Run) with Run,
// until it ends or the mesh closes.
func (m *Mesh) RunCommand(c webhooktest.Command) (string, error) {
	return m.Run(m.bg, c.Cmd)
}

// ServeLoadTester serves lt inside the mesh as the Service name (the demo manifests'
// "flagger-loadtester": http://flagger-loadtester.test/), executing the commands it is sent
// the way flagger-loadtester does: blocking ones (type bash, ...) through lt.Run, which is set
// to RunCommand when nil; background ones (type cmd, the default: the demo manifests' hey load test)
// started with Run when lt accepts them, unless the same command for the same canary is still
// running. Background commands stop when the mesh closes.
func (m *Mesh) ServeLoadTester(name string, lt *webhooktest.LoadTester) error {
	if lt.Run == nil {
		lt.Run = m.RunCommand
	}
	return m.ServeService(name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/" {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			var p webhook.Payload
			signed := lt.Verifier == nil || lt.Verifier.Verify(r.Header, body) == nil
			if json.Unmarshal(body, &p) == nil && signed {
				typ, ok := p.Metadata["type"]
				if cmd := p.Metadata["cmd"]; (!ok || typ == "cmd") && cmd != "" {
					m.startBackground(p.Name+"."+p.Namespace, cmd)
				}
			}
		}
		lt.ServeHTTP(w, r)
	}))
}

// startBackground runs cmd in the background unless it already runs for canary.
func (m *Mesh) startBackground(canary, cmd string) {
	key := canary + "\x00" + cmd
	m.serversMu.Lock()
	defer m.serversMu.Unlock()
	if m.closed || m.background[key] {
		m.log.Info("command already running or mesh closed, skipped", "canary", canary, "cmd", cmd)
		return
	}
	m.background[key] = true
	m.running.Add(1)
	go func() {
		defer m.running.Done()
		out, err := m.Run(m.bg, cmd)
		m.log.Info("background command ended", "canary", canary, "cmd", cmd, "error", err, "output", out)
		m.serversMu.Lock()
		delete(m.background, key)
		m.serversMu.Unlock()
	}()
}

// curlOptions are the curl options Run supports.
type curlOptions struct {
	method, url, writeOut string
	data                  []string
	header                http.Header
	silent, showError     bool
	fail, discard         bool
	timeout               time.Duration
}

// curlArgOptions take a value: short and long names.
var curlArgOptions = map[string]string{
	"d": "data", "data": "data", "data-raw": "data", "data-binary": "data", "data-ascii": "data",
	"X": "request", "request": "request", "H": "header", "header": "header", "A": "user-agent",
	"user-agent": "user-agent", "u": "user", "user": "user", "m": "max-time", "max-time": "max-time",
	"o": "output", "output": "output", "w": "write-out", "write-out": "write-out",
}

// curlFlagOptions take no value.
var curlFlagOptions = map[string]string{
	"s": "silent", "silent": "silent", "S": "show-error", "show-error": "show-error", "f": "fail",
	"fail": "fail", "L": "location", "location": "location", "k": "insecure", "insecure": "insecure",
}

func parseCurl(args []string) (curlOptions, error) {
	o := curlOptions{header: http.Header{}}
	set := func(name, value string) error {
		switch name {
		case "silent":
			o.silent = true
		case "show-error":
			o.showError = true
		case "fail":
			o.fail = true
		case "location", "insecure":
		case "data":
			if strings.HasPrefix(value, "@") {
				return fmt.Errorf("data from a file (%s) is not supported", value)
			}
			o.data = append(o.data, value)
		case "request":
			o.method = value
		case "header":
			k, v, ok := strings.Cut(value, ":")
			if !ok {
				return fmt.Errorf("header %q: want \"Name: value\"", value)
			}
			o.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "user-agent":
			o.header.Set("User-Agent", value)
		case "user":
			user, pass, _ := strings.Cut(value, ":")
			r := &http.Request{Header: o.header}
			r.SetBasicAuth(user, pass)
		case "max-time":
			secs, err := strconv.ParseFloat(value, 64)
			if err != nil || secs <= 0 {
				return fmt.Errorf("max-time %q: want seconds", value)
			}
			o.timeout = time.Duration(secs * float64(time.Second))
		case "output":
			if value != "/dev/null" {
				return fmt.Errorf("output to %s is not supported (only /dev/null)", value)
			}
			o.discard = true
		case "write-out":
			o.writeOut = value
		}
		return nil
	}
	// apply sets option name (shown as shown) and says whether it took a value: inline, if
	// given, or else the next argument.
	var i int
	apply := func(shown, name, inline string, hasInline bool) (bool, error) {
		if long, ok := curlFlagOptions[name]; ok {
			return false, set(long, "")
		}
		long, ok := curlArgOptions[name]
		if !ok {
			return false, fmt.Errorf("option %s is not supported", shown)
		}
		if !hasInline {
			if i+1 >= len(args) {
				return false, fmt.Errorf("option %s needs a value", shown)
			}
			i++
			inline = args[i]
		}
		return true, set(long, inline)
	}
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			if _, err := apply("--"+name, name, value, hasValue); err != nil {
				return o, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// Short options may be bundled ("-sd 'test'"): one taking a value ends the bundle,
			// its value being the rest of the word or else the next word.
			for j := 1; j < len(a); j++ {
				took, err := apply("-"+a[j:j+1], a[j:j+1], a[j+1:], j+1 < len(a))
				if err != nil {
					return o, err
				}
				if took {
					break
				}
			}
		default:
			if o.url != "" {
				return o, errors.New("more than one URL is not supported")
			}
			o.url = a
		}
	}
	if o.url == "" {
		return o, errors.New("no URL specified")
	}
	if !strings.Contains(o.url, "://") {
		o.url = "http://" + o.url
	}
	if o.method == "" {
		o.method = http.MethodGet
		if len(o.data) > 0 {
			o.method = http.MethodPost
		}
	}
	if len(o.data) > 0 && o.header.Get("Content-Type") == "" {
		o.header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return o, nil
}

// curl's exit statuses.
const (
	curlUsage      = 2
	curlResolve    = 6
	curlConnect    = 7
	curlHTTPError  = 22
	curlTimeout    = 28
	curlWriteOut   = "%{http_code}"
	curlDefaultErr = 56
)

func (m *Mesh) curl(ctx context.Context, args []string, _ string) (string, int, string) {
	o, err := parseCurl(args)
	if err != nil {
		return "", curlUsage, "curl: " + err.Error()
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.url, strings.NewReader(strings.Join(o.data, "&")))
	if err != nil {
		return "", curlUsage, "curl: " + err.Error()
	}
	req.Header = o.header
	resp, err := m.Client().Do(req)
	if err != nil {
		status := curlDefaultErr
		switch {
		case errors.Is(err, ErrUnknownService):
			status = curlResolve
		case errors.Is(err, ErrNoPort):
			status = curlConnect
		case errors.Is(err, context.DeadlineExceeded):
			status = curlTimeout
		}
		return "", status, fmt.Sprintf("curl: (%d) %v", status, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if o.fail && resp.StatusCode >= 400 {
		return "", curlHTTPError, fmt.Sprintf("curl: (22) The requested URL returned error: %d", resp.StatusCode)
	}
	out := string(body)
	if o.discard {
		out = ""
	}
	return out + strings.ReplaceAll(o.writeOut, curlWriteOut, strconv.Itoa(resp.StatusCode)), 0, ""
}

// grep selects the lines of stdin matching a pattern; status 1 when none is selected.
func grep(_ context.Context, args []string, stdin string) (string, int, string) {
	var quiet, fold, invert, count, fixed bool
	var pattern string
	havePattern := false
	for _, a := range args {
		if !havePattern && strings.HasPrefix(a, "-") && len(a) > 1 {
			for _, f := range a[1:] {
				switch f {
				case 'q':
					quiet = true
				case 'i':
					fold = true
				case 'v':
					invert = true
				case 'c':
					count = true
				case 'F':
					fixed = true
				case 'E':
				default:
					return "", 2, fmt.Sprintf("grep: option -%c is not supported", f)
				}
			}
			continue
		}
		if havePattern {
			return "", 2, "grep: reading files is not supported"
		}
		pattern, havePattern = a, true
	}
	if !havePattern {
		return "", 2, "grep: no pattern"
	}
	if fixed {
		pattern = regexp.QuoteMeta(pattern)
	}
	if fold {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return "", 2, "grep: " + err.Error()
	}
	var selected []string
	for _, line := range strings.SplitAfter(stdin, "\n") {
		if line == "" {
			continue
		}
		if re.MatchString(strings.TrimSuffix(line, "\n")) != invert {
			selected = append(selected, strings.TrimSuffix(line, "\n")+"\n")
		}
	}
	status := 0
	if len(selected) == 0 {
		status = 1
	}
	switch {
	case quiet:
		return "", status, ""
	case count:
		return strconv.Itoa(len(selected)) + "\n", status, ""
	}
	return strings.Join(selected, ""), status, ""
}

// hey runs a load as hey would and prints a summary in hey's format.
func (m *Mesh) hey(ctx context.Context, args []string, _ string) (string, int, string) {
	cfg, err := parseHeyArgs(args)
	if err != nil {
		return "", 1, err.Error()
	}
	start := time.Now()
	l, err := m.StartLoad(cfg)
	if err != nil {
		return "", 1, "hey: " + err.Error()
	}
	res, err := l.Wait(ctx)
	if err != nil {
		res = l.Stop()
	}
	return heySummary(res, time.Since(start)), 0, ""
}

// heySummary renders the parts of hey's report a reader of the loadtester's log looks at.
func heySummary(r LoadResult, elapsed time.Duration) string {
	var b strings.Builder
	secs := elapsed.Seconds()
	fmt.Fprintf(&b, "\nSummary:\n  Total:\t%.4f secs\n", secs)
	if secs > 0 {
		fmt.Fprintf(&b, "  Requests/sec:\t%.4f\n", float64(r.Requests)/secs)
	}
	b.WriteString("\nStatus code distribution:\n")
	codes := slices.Collect(maps.Keys(r.Statuses))
	sort.Ints(codes)
	var answered uint64
	for _, c := range codes {
		fmt.Fprintf(&b, "  [%d]\t%d responses\n", c, r.Statuses[c])
		answered += r.Statuses[c]
	}
	if r.Requests > answered {
		fmt.Fprintf(&b, "\nError distribution:\n  [%d]\t%s\n", r.Requests-answered, r.LastError)
	}
	return b.String()
}
