package scale

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatCPUSkipsTheCommand(t *testing.T) {
	// pid (comm with ") x" in it) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	stat := "42 (a) b (c) d) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 100000 200"
	got, err := parseStatCPU(stat)
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, got)
	_, err = parseStatCPU("42 (a) S 1")
	assert.Error(t, err)
}

func TestProcFiguresOfThisProcess(t *testing.T) {
	cpu, err := ProcCPU(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cpu, time.Duration(0))
	rss, err := ProcRSS(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, rss, 1.0, "a Go test binary holds more than 1 MiB")
	anon, file, err := ProcRSSSplit(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, anon, "a Go program's heap is anonymous memory")
	assert.Positive(t, file, "its code is mapped from its binary")
	// read a moment apart, the split adds up to about the total
	assert.InDelta(t, rss, anon+file, rss/2)
	_, _, err = ProcRSSSplit(-1)
	assert.Error(t, err, "no such process")

	sleeps0, err := ProcSleeps(os.Getpid())
	require.NoError(t, err)
	for range 20 {
		time.Sleep(time.Millisecond) // each a sleep of some thread of this process
	}
	sleeps1, err := ProcSleeps(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, sleeps1-sleeps0, int64(20), "20 sleeps of 1 ms")
	_, err = ProcSleeps(-1)
	assert.Error(t, err, "no such process")
}

func TestThreadsBetween(t *testing.T) {
	before := []Thread{{TID: 1, Sleeps: 100, CPU: time.Second}, {TID: 2, Sleeps: 50, CPU: 0}}
	after := []Thread{{TID: 1, Sleeps: 130, CPU: 4 * time.Second}, {TID: 2, Sleeps: 110}, {TID: 3, Sleeps: 10, CPU: time.Second}}
	got := ThreadsBetween(before, after)
	assert.Equal(t, []Thread{{TID: 2, Sleeps: 60}, {TID: 1, Sleeps: 30, CPU: 3 * time.Second}, {TID: 3, Sleeps: 10, CPU: time.Second}}, got,
		"the busiest sleeper first; a new thread from zero")
	assert.Equal(t, "3 threads; the most sleeping: #2 60 % of the sleeps and 0 % of the CPU; #1 30 % of the sleeps and 75 % of the CPU",
		ThreadsSummary(got, 2))
	assert.Equal(t, "0 threads; the most sleeping: ", ThreadsSummary(nil, 4))
	gaps := []Thread{{TID: 900, Sleeps: 5}, {TID: 100, Sleeps: 1}, {TID: 140, Sleeps: 9}}
	assert.Equal(t, "3 threads; the most sleeping: #3 33 % of the sleeps and 0 % of the CPU", ThreadsSummary(gaps, 1),
		"placed by the order the threads started, whatever IDs other processes took between them")

	threads, err := ProcThreads(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(threads), 2, "a Go test binary runs several threads")
}

func TestVoluntarySwitches(t *testing.T) {
	status := "Name:\tcontroller\nThreads:\t5\nvoluntary_ctxt_switches:\t12345\nnonvoluntary_ctxt_switches:\t67\n"
	n, err := voluntarySwitches(status)
	require.NoError(t, err)
	assert.Equal(t, int64(12345), n)
	_, err = voluntarySwitches("Name:\tcontroller\nnonvoluntary_ctxt_switches:\t67\n")
	assert.Error(t, err, "the nonvoluntary count is not the voluntary one")
}

func TestCountConnsMatchesEstablishedConnectionsOfTheProcess(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A2C4 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 20 4 30 10 -1
   1: 0100007F:A2C6 0100007F:2382 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:A2C8 0100007F:2382 06 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:2382 0100007F:A2CA 01 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 20 4 30 10 -1
   4: 0100007F:A2CC 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 20 4 30 10 -1
`
	mine := map[string]bool{"111": true, "333": true, "444": true, "555": true}
	// 111: ours, established, to 0x2382 (9090); 222: not ours; 333: TIME_WAIT; 444: 9090 is
	// its local port; 555: another port
	assert.Equal(t, []string{"111"}, connsIn(table, 9090, mine))
	assert.Equal(t, []string{"555"}, connsIn(table, 8080, mine))
	assert.Empty(t, connsIn(table, 9091, mine))
}

func TestMachineCPU(t *testing.T) {
	m, err := parseMachineCPU("cpu  400 10 100 2000 50 5 20 30 0 0\ncpu0 200 5 50 1000 25 2 10 15 0 0\nintr 1\n")
	require.NoError(t, err)
	assert.Equal(t, Machine{Busy: 5350 * time.Millisecond, Idle: 20500 * time.Millisecond, Steal: 300 * time.Millisecond}, m,
		"busy: user, nice, system, irq and softirq; idle: idle and iowait")
	_, err = parseMachineCPU("cpu0 200 5 50 1000 25 2 10 15\n")
	assert.Error(t, err, "the first line is the machine's sum")
	_, err = parseMachineCPU("cpu  400 10 100\n")
	assert.Error(t, err, "too few times")

	later := Machine{Busy: m.Busy + 3*time.Second, Idle: m.Idle + time.Second, Steal: m.Steal}
	assert.Equal(t, "1.50 cores busy, 0.50 idle, 0.00 stolen", MachineBetween(m, later, 2*time.Second))

	now, err := MachineCPU()
	require.NoError(t, err)
	assert.Positive(t, now.Busy+now.Idle, "this machine has run since boot")
}

func TestCommandsCPU(t *testing.T) {
	before := map[string]time.Duration{"kube-apiserver": 10 * time.Second, "etcd": 4 * time.Second, "prometheus": time.Second}
	after := map[string]time.Duration{"kube-apiserver": 16 * time.Second, "etcd": 6 * time.Second, "prometheus": time.Second,
		"flagger-control": 2 * time.Second}
	assert.Equal(t, "kube-apiserver 1.50, etcd 0.50, flagger-control 0.50", CommandsBetween(before, after, 4*time.Second, 5),
		"the busiest first, a command started meanwhile from zero, an idle one left out")
	assert.Equal(t, "kube-apiserver 1.50", CommandsBetween(before, after, 4*time.Second, 1))

	self, err := ProcCPU(os.Getpid()) // read first: the process goes on using CPU
	require.NoError(t, err)
	now, err := CommandsCPU()
	require.NoError(t, err)
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, now[strings.TrimSpace(string(comm))], self, "this test's own process is counted under its command")
}
