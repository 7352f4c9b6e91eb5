package scale

// The figures the harness reads from /proc about the measured tool: its CPU time, threads and
// their sleeps, resident set and TCP connections.

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux).
const clockTicks = 100

// ProcCPU is the user + system CPU time process pid has used (/proc/<pid>/stat).
func ProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(data))
}

// parseStatCPU reads utime and stime (fields 14 and 15) after the command's closing ")".
func parseStatCPU(stat string) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("stat: no command field")
	}
	fields := strings.Fields(stat[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] { // fields 14 and 15 of the whole line
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// Thread is one thread of a process: its id, how many times it has gone to sleep waiting
// for something (a timer, a socket, another thread: its voluntary context switches, each
// followed by a wake-up) and the CPU time it has used.
type Thread struct {
	TID    int
	Sleeps int64
	CPU    time.Duration
}

// ProcThreads reads every thread of process pid (/proc/<pid>/task/<tid>/status and stat). A
// thread that ends while they are read is left out; a Go program keeps its threads.
func ProcThreads(pid int) ([]Thread, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return nil, err
	}
	var out []Thread
	for _, dir := range dirs {
		tid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		status, err1 := os.ReadFile(filepath.Join(dir, "status"))
		stat, err2 := os.ReadFile(filepath.Join(dir, "stat"))
		if err1 != nil || err2 != nil {
			continue // a thread that ended meanwhile
		}
		sleeps, err := voluntarySwitches(string(status))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		cpu, err := parseStatCPU(string(stat))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		out = append(out, Thread{TID: tid, Sleeps: sleeps, CPU: cpu})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("process %d: no threads", pid)
	}
	return out, nil
}

// ProcSleeps is how many times process pid's threads have gone to sleep (TotalSleeps of
// ProcThreads).
func ProcSleeps(pid int) (int64, error) {
	threads, err := ProcThreads(pid)
	if err != nil {
		return 0, err
	}
	return TotalSleeps(threads), nil
}

// TotalSleeps is the sum of threads' Sleeps.
func TotalSleeps(threads []Thread) int64 {
	var sum int64
	for _, t := range threads {
		sum += t.Sleeps
	}
	return sum
}

// ThreadsBetween is what each thread of after did since before (a thread new since before
// counts from zero), the busiest sleeper first.
func ThreadsBetween(before, after []Thread) []Thread {
	was := map[int]Thread{}
	for _, t := range before {
		was[t.TID] = t
	}
	out := make([]Thread, 0, len(after))
	for _, t := range after {
		b := was[t.TID]
		out = append(out, Thread{TID: t.TID, Sleeps: t.Sleeps - b.Sleeps, CPU: t.CPU - b.CPU})
	}
	slices.SortFunc(out, func(a, b Thread) int { return cmp.Compare(b.Sleeps, a.Sleeps) })
	return out
}

// ThreadsSummary words the first n of threads (ThreadsBetween's order) of process pid: each
// one's share of all the sleeps and of all the CPU, and its thread ID less pid. In a Go
// program, pid+1 is the runtime's monitor (sysmon, the first thread the runtime starts): while
// the program runs Go code it polls every 20 µs at first, the back-off restarting whenever
// the program comes out of a system call after all its Ps were idle, so it sleeps far more
// often than the threads running Go code.
func ThreadsSummary(threads []Thread, pid, n int) string {
	sleeps := TotalSleeps(threads)
	var cpu time.Duration
	for _, t := range threads {
		cpu += t.CPU
	}
	parts := make([]string, 0, n)
	for _, t := range threads[:min(n, len(threads))] {
		parts = append(parts, fmt.Sprintf("pid+%d %.0f %% of the sleeps and %.0f %% of the CPU", t.TID-pid, share(float64(t.Sleeps), float64(sleeps)), share(float64(t.CPU), float64(cpu))))
	}
	return fmt.Sprintf("%d threads; the most sleeping: %s", len(threads), strings.Join(parts, "; "))
}

// share is part of whole in percent, 0 for an empty whole.
func share(part, whole float64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * part / whole
}

// voluntarySwitches reads voluntary_ctxt_switches from the text of a /proc status file.
func voluntarySwitches(status string) (int64, error) {
	for line := range strings.Lines(status) {
		name, rest, ok := strings.Cut(line, ":")
		if ok && name == "voluntary_ctxt_switches" {
			return strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, fmt.Errorf("no voluntary_ctxt_switches")
}

// ProcRSS is process pid's VmRSS in MiB (/proc/<pid>/status).
func ProcRSS(pid int) (float64, error) {
	m, err := procStatusKB(pid, "VmRSS")
	if err != nil {
		return 0, err
	}
	return m["VmRSS"] / 1024, nil
}

// ProcRSSSplit is process pid's resident set in MiB split as the kernel counts it: anon is
// the memory the process allocated (for a Go program its heap, stacks and runtime
// structures), file the pages of files it maps (its binary's code and tables, which every
// process of the same binary shares and the kernel may drop and read again).
func ProcRSSSplit(pid int) (anon, file float64, err error) {
	m, err := procStatusKB(pid, "RssAnon", "RssFile")
	if err != nil {
		return 0, 0, err
	}
	return m["RssAnon"] / 1024, m["RssFile"] / 1024, nil
}

// procStatusKB reads the named kB fields of /proc/<pid>/status; each must be there.
func procStatusKB(pid int, names ...string) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return nil, fmt.Errorf("status %s: %w", name, err)
		}
		out[name] = kb
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("status: no %s", n)
		}
	}
	return out, nil
}

// ConnsTo returns process pid's established TCP (IPv4 and IPv6) connections whose remote port
// is port, each by its socket's inode.
func ConnsTo(pid, port int) ([]string, error) {
	inodes := map[string]bool{}
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var conns []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		conns = append(conns, connsIn(string(data), port, inodes)...)
	}
	return conns, nil
}

// tcpEstablished is the st column of an established connection in /proc/net/tcp.
const tcpEstablished = "01"

// connsIn returns the inodes of the lines of a /proc/net/tcp table that are established
// connections to remote port port whose inode is in inodes.
func connsIn(table string, port int, inodes map[string]bool) []string {
	var conns []string
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != tcpEstablished || !inodes[f[9]] {
			continue
		}
		_, hexPort, ok := strings.Cut(f[2], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseInt(hexPort, 16, 32)
		if err == nil && int(p) == port {
			conns = append(conns, f[9])
		}
	}
	return conns
}
