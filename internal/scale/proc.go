package scale

// The figures the harness reads from /proc about the measured tool: its CPU time, threads and
// their sleeps, resident set and TCP connections; and the whole machine's CPU (MachineCPU), by
// command (CommandsCPU).

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

// Machine is the whole machine's CPU time since boot, summed over its cores (/proc/stat's
// "cpu" line): busy (user, nice, system, irq, softirq), idle (idle and iowait) and stolen
// by the hypervisor for other guests (steal).
type Machine struct {
	Busy, Idle, Steal time.Duration
}

// MachineCPU reads the machine's CPU time from /proc/stat.
func MachineCPU() (Machine, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	return parseMachineCPU(string(data))
}

// parseMachineCPU reads the first line of /proc/stat, "cpu user nice system idle iowait irq
// softirq steal …", in clock ticks.
func parseMachineCPU(stat string) (Machine, error) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return Machine{}, fmt.Errorf("/proc/stat: first line %q: want \"cpu\" and 8 times", line)
	}
	var t [8]int64
	for i := range t {
		n, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return Machine{}, fmt.Errorf("/proc/stat: %w", err)
		}
		t[i] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }
	return Machine{Busy: tick(t[0] + t[1] + t[2] + t[5] + t[6]), Idle: tick(t[3] + t[4]), Steal: tick(t[7])}, nil
}

// MachineBetween is what the machine did from before to after, worded: how many cores were
// busy on average over elapsed, how many stood idle, and how many the hypervisor took.
func MachineBetween(before, after Machine, elapsed time.Duration) string {
	return fmt.Sprintf("%.2f cores busy, %.2f idle, %.2f stolen", cores(after.Busy-before.Busy, elapsed),
		cores(after.Idle-before.Idle, elapsed), cores(after.Steal-before.Steal, elapsed))
}

// cores is CPU time cpu as cores kept busy on average over elapsed (0 for no time).
func cores(cpu, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(cpu) / float64(elapsed)
}

// CommandsCPU sums the CPU time every process on the machine has used by its command name
// (/proc/<pid>/stat's comm, at most 15 characters): the bed's servers, the tool, the harness.
// A process that ends while they are read is left out.
func CommandsCPU() (map[string]time.Duration, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		stat := string(data)
		open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		cpu, err := parseStatCPU(stat)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[stat[open+1:end]] += cpu
	}
	return out, nil
}

// CommandsBetween words the n commands that used most CPU from before to after (CommandsCPU),
// each as cores over elapsed.
func CommandsBetween(before, after map[string]time.Duration, elapsed time.Duration, n int) string {
	type use struct {
		name string
		cpu  time.Duration
	}
	var uses []use
	for name, cpu := range after {
		if d := cpu - before[name]; d > 0 {
			uses = append(uses, use{name, d})
		}
	}
	slices.SortFunc(uses, func(a, b use) int {
		return cmp.Or(cmp.Compare(b.cpu, a.cpu), cmp.Compare(a.name, b.name))
	})
	parts := make([]string, 0, n)
	for _, u := range uses[:min(n, len(uses))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", u.name, cores(u.cpu, elapsed)))
	}
	return strings.Join(parts, ", ")
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

// ThreadsSummary words the first n of threads (ThreadsBetween's order): each one's share of
// all the sleeps and of all the CPU, and its place in the order the threads started ("#1" is
// the process's first thread; thread IDs grow as threads start, though not by one when other
// processes start threads meanwhile). In a Go program #2 is the runtime's monitor (sysmon, the
// first thread the runtime starts): while the program runs Go code it looks at the processors
// every 20 µs at first, the pause starting over whenever a system call wakes it after all the
// processors were idle, so it sleeps far more often than the threads running Go code.
func ThreadsSummary(threads []Thread, n int) string {
	sleeps := TotalSleeps(threads)
	var cpu time.Duration
	tids := make([]int, 0, len(threads))
	for _, t := range threads {
		cpu += t.CPU
		tids = append(tids, t.TID)
	}
	slices.Sort(tids)
	parts := make([]string, 0, n)
	for _, t := range threads[:min(n, len(threads))] {
		place, _ := slices.BinarySearch(tids, t.TID)
		parts = append(parts, fmt.Sprintf("#%d %.0f %% of the sleeps and %.0f %% of the CPU", place+1, share(float64(t.Sleeps), float64(sleeps)), share(float64(t.CPU), float64(cpu))))
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
