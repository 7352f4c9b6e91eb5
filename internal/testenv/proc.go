package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a server gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// process is one server of the bed: its own process group, output in a log file, killed with
// the test binary (Pdeathsig) if nothing stops it first.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, valid once done is closed
}

// spawnRequests feeds the one goroutine that starts every server. Pdeathsig fires when the
// *thread* that forked the child exits, so that goroutine locks itself to a thread that lives
// as long as the test binary.
var spawnRequests = make(chan spawnRequest)

type spawnRequest struct {
	cmd   *exec.Cmd
	reply chan error
}

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must outlive every child
		for req := range spawnRequests {
			req.reply <- req.cmd.Start()
		}
	}()
}

// startProcess runs path with args, its stdout and stderr going to logPath.
func startProcess(name, logPath, path string, args ...string) (*process, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	defer out.Close() // the child holds its own descriptor

	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	reply := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, reply: reply}
	if err := <-reply; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, with its error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, fmt.Errorf("%s exited", p.name)
		}
		return true, fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group and SIGKILL after grace. It is idempotent.
func (p *process) stop(grace time.Duration) {
	if p == nil {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// logTail returns the last n lines the process wrote, for failure messages.
func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	seen := map[int]bool{}
	for len(ports) < n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// tempDir creates a directory for one server under root, named after kind and this process,
// so that reapStaleDirs can remove it if this process dies without cleaning up.
func tempDir(root, kind string) (string, error) {
	reapOnce.Do(reapStaleDirs)
	d, err := os.MkdirTemp(root, fmt.Sprintf("canarykit-%s-%d-", kind, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("create %s dir: %w", kind, err)
	}
	return d, nil
}

var reapOnce sync.Once

// reapStaleDirs removes the directories of test binaries that were killed (SIGKILL leaves no
// chance to clean up; etcd's data may be in tmpfs, i.e. memory).
func reapStaleDirs() {
	for _, root := range []string{os.TempDir(), "/dev/shm"} {
		matches, _ := filepath.Glob(filepath.Join(root, "canarykit-*-*-*"))
		for _, m := range matches {
			parts := strings.Split(filepath.Base(m), "-")
			if len(parts) < 4 {
				continue
			}
			pid, err := strconv.Atoi(parts[2])
			if err != nil || pid == os.Getpid() {
				continue
			}
			if !alive(pid) {
				_ = os.RemoveAll(m)
			}
		}
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// errStopped is returned by waits that end because the server process died.
var errStopped = errors.New("server process exited")
