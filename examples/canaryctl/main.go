package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/canarykit/canarykit/canary"
	"github.com/canarykit/canarykit/canary/progress"
	"k8s.io/client-go/rest"
)

// Exit codes.
const (
	exitPromoted   = 0 // run: promoted or nothing to release; validate: it would run; other commands: done
	exitRolledBack = 1 // run: rolled back; validate: the manifest has problems
	exitError      = 2 // usage errors and any other error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// options are the flags of every command; each command registers the ones it takes.
type options struct {
	file           string
	objectFiles    []string
	kubeconfig     string
	kubeContext    string
	requestTimeout time.Duration
	prometheus     string
	router         string
	identity       string
	wait           bool
	verbose        bool
}

// command is one canaryctl command: its synopsis, the flags it takes and what it does with
// them and its arguments (already parsed; args are the positional ones).
type command struct {
	synopsis string
	flags    func(fs *flag.FlagSet, o *options)
	run      func(c *cli, ctx context.Context, o *options, args []string) int
}

func commands() map[string]command {
	control := func(ctl string) command {
		return command{synopsis: ctl + " (-f canary.yaml | NAMESPACE/NAME)", flags: clusterFlags,
			run: func(c *cli, ctx context.Context, o *options, args []string) int { return c.control(ctx, o, args, ctl) }}
	}
	return map[string]command{
		"run": {synopsis: "run -f canary.yaml [-t flagger-objects.yaml ...] [--prometheus URL] [--router smi|httproute|kubernetes] [--identity ID] [--wait] [-v]",
			flags: runFlags, run: (*cli).run},
		"status": {synopsis: "status (-f canary.yaml | NAMESPACE/NAME)", flags: clusterFlags, run: (*cli).status},
		"validate": {synopsis: "validate -f canary.yaml [-t flagger-objects.yaml ...]      (no cluster needed)",
			flags: validateFlags, run: (*cli).validate},
		"promote": control("promote"), "abort": control("abort"), "pause": control("pause"), "resume": control("resume"),
	}
}

// commandOrder is the order of the commands in the usage text.
var commandOrder = []string{"run", "validate", "status", "promote", "abort", "pause", "resume"}

func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	cmds := commands()
	for _, name := range commandOrder {
		fmt.Fprintf(&b, "  canaryctl %s\n", cmds[name].synopsis)
	}
	b.WriteString("Flags may come before or after NAMESPACE/NAME; \"canaryctl COMMAND -h\" lists a command's flags.")
	return b.String()
}

func manifestFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.file, "f", "", "Flagger Canary manifest (YAML)")
}

func objectFlags(fs *flag.FlagSet, o *options, where string) {
	fs.Func("t", "Flagger MetricTemplates and AlertProviders (YAML, repeatable); "+where,
		func(f string) error { o.objectFiles = append(o.objectFiles, f); return nil })
}

func clusterFlags(fs *flag.FlagSet, o *options) {
	manifestFlags(fs, o)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.kubeContext, "context", "", "kubeconfig context")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second,
		"how long to wait for each answer of the API server (watches excepted); 0 waits forever")
}

func runFlags(fs *flag.FlagSet, o *options) {
	clusterFlags(fs, o)
	objectFlags(fs, o, "what the Canary refers to and they lack is read from the cluster")
	fs.StringVar(&o.prometheus, "prometheus", "http://localhost:9090", "Prometheus address (a manifest's spec.metricsServer wins)")
	fs.StringVar(&o.router, "router", "", "route kind of a Canary without spec.provider: smi, httproute or kubernetes (default: Linkerd's, smi, or httproute with gatewayRefs)")
	fs.StringVar(&o.identity, "identity", "", "driver identity in the target's lease (default: host name and a random suffix)")
	fs.BoolVar(&o.wait, "wait", false, "wait for a target driven by another process instead of failing")
	fs.BoolVar(&o.verbose, "v", false, "verbose: each check's resolved query, and why a check did not pass")
}

func validateFlags(fs *flag.FlagSet, o *options) {
	manifestFlags(fs, o)
	objectFlags(fs, o, "what the Canary refers to and they lack is listed as read from the cluster at run time")
}

// Main runs one canaryctl command and returns its exit code. cfg, if set, replaces the
// kubeconfig (tests pass the test bed's); --request-timeout still applies to it.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, cfg *rest.Config) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage())
		return exitError
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage())
		return exitPromoted
	}
	name := args[0]
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "canaryctl: unknown command %q\n%s\n", name, usage())
		return exitError
	}
	var o options
	fs := flag.NewFlagSet("canaryctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr) // parse errors; the usage is printed below
	fs.Usage = func() {}
	cmd.flags(fs, &o)
	positional, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "usage: canaryctl %s\n", cmd.synopsis)
		fs.PrintDefaults()
		return exitPromoted
	}
	if err != nil {
		fmt.Fprintf(stderr, "usage: canaryctl %s\n", cmd.synopsis)
		return exitError
	}
	c := &cli{cfg: cfg, stdout: stdout, stderr: stderr}
	return cmd.run(c, ctx, &o, positional)
}

// parseInterspersed parses fs's flags wherever they are among args and returns the other
// arguments in order. Everything after "--" is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

type cli struct {
	cfg            *rest.Config // the tests' cluster; nil: the kubeconfig's
	stdout, stderr io.Writer
}

func (c *cli) fail(err error) int {
	fmt.Fprintln(c.stderr, "canaryctl:", progress.Printable(err.Error()))
	return exitError
}

// noArgs is a usage error for commands that take no positional argument.
func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", args[0])
	}
	return nil
}

// target is the manifest's target, or NAMESPACE/NAME.
func target(file string, args []string) (canary.Target, error) {
	switch {
	case file != "" && len(args) > 0:
		return canary.Target{}, fmt.Errorf("give -f canary.yaml or NAMESPACE/NAME, not both (got %q)", args[0])
	case file != "":
		m, err := loadCanary(file)
		if err != nil {
			return canary.Target{}, err
		}
		return m.Target, nil
	case len(args) == 1:
		if ns, name, ok := strings.Cut(args[0], "/"); ok && ns != "" && name != "" && !strings.Contains(name, "/") {
			return canary.Target{Namespace: ns, Name: name}, nil
		}
		return canary.Target{}, fmt.Errorf("want NAMESPACE/NAME, got %q", args[0])
	case len(args) > 1:
		return canary.Target{}, fmt.Errorf("one NAMESPACE/NAME, got %d arguments", len(args))
	}
	return canary.Target{}, errors.New("give -f canary.yaml or NAMESPACE/NAME")
}
