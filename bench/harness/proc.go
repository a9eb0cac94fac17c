package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one long-running process the harness started (a target, the
// upstream, a helper). Its output goes to <out>/logs/<name>.log.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// procs owns every process of a run, so that one deferred stopAll (and the
// signal handler's context) leaves nothing behind.
type procs struct {
	logDir string
	mu     sync.Mutex
	live   []*proc
}

// start runs argv with env added to the harness's environment, in its own
// process group (so stop reaches the whole tree, e.g. nginx's worker).
func (ps *procs) start(name string, env []string, argv ...string) (*proc, error) {
	if err := os.MkdirAll(ps.logDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(ps.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.live = append(ps.live, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then kills
// the group. Descendants that left the group (the process driver's
// children call Setpgid themselves) are remembered first and killed by
// pid if they outlive their parent: they are ours too.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	kids := descendants(p.pid())
	pg := -p.pid()
	_ = syscall.Kill(pg, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pg, syscall.SIGKILL)
		<-p.done
	}
	deadline := time.Now().Add(grace)
	for _, k := range kids {
		for k.alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if k.alive() {
			_ = syscall.Kill(k.pid, syscall.SIGKILL)
		}
	}
}

// stopAll stops every process still running, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	live := ps.live
	ps.live = nil
	ps.mu.Unlock()
	for i := len(live) - 1; i >= 0; i-- {
		live[i].stop(12 * time.Second)
	}
}

// stopOne stops p and forgets it.
func (ps *procs) stopOne(p *proc) {
	p.stop(12 * time.Second)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i, q := range ps.live {
		if q == p {
			ps.live = append(ps.live[:i], ps.live[i+1:]...)
			break
		}
	}
}

// task identifies a process by pid and start time, so a recycled pid is
// never mistaken for it.
type task struct {
	pid   int
	start string
}

func (t task) alive() bool {
	st, err := readStat(t.pid)
	return err == nil && st.start == t.start && st.state != "Z"
}

// stat is the part of /proc/<pid>/stat the harness reads.
type stat struct {
	state string
	ppid  int
	// utime+stime of the process and cutime+cstime of its waited-for
	// children, in clock ticks.
	ticks uint64
	start string
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	return parseStat(b)
}

// parseStat reads /proc/<pid>/stat (proc(5)): the command name is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 20 {
		return stat{}, errors.New("short /proc stat")
	}
	var s stat
	s.state = f[0]
	s.ppid, _ = strconv.Atoi(f[1])
	for _, n := range []int{14, 15, 16, 17} { // utime stime cutime cstime
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil {
			return stat{}, fmt.Errorf("stat field %d: %w", n, err)
		}
		s.ticks += v
	}
	s.start = f[22-3]
	return s, nil
}

// descendants lists the live descendants of pid, found through the ppid of
// every process in /proc.
func descendants(pid int) []task {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	starts := map[int]string{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(n)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], n)
		starts[n] = st.start
	}
	var out []task
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 10000 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, task{pid: c, start: starts[c]})
			queue = append(queue, c)
		}
	}
	return out
}

// treeTicks is the CPU time (clock ticks) of pid and its live descendants,
// children that already exited included (cutime/cstime).
func treeTicks(pid int) uint64 {
	var sum uint64
	for _, p := range append([]int{pid}, pids(descendants(pid))...) {
		if st, err := readStat(p); err == nil {
			sum += st.ticks
		}
	}
	return sum
}

// treeMemKB sums a /proc/<pid>/status field (VmRSS, VmHWM) over pid and
// its live descendants, in KiB. For a tree the sum of peaks is an upper
// bound of the tree's peak.
func treeMemKB(pid int, field string) uint64 {
	var sum uint64
	for _, p := range append([]int{pid}, pids(descendants(pid))...) {
		sum += statusKB(p, field)
	}
	return sum
}

func statusKB(pid int, field string) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, _ := strconv.ParseUint(fs[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func pids(ts []task) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t.pid
	}
	return out
}

// clockTick is sysconf(_SC_CLK_TCK); 100 on every Linux the harness runs
// on, asked of getconf in case it is not.
func clockTick() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}

// waitHTTP polls url until it answers 200 or timeout passes; it fails at
// once if p exits.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	// The HTTPS targets serve the run's own self-signed certificate.
	cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited (%v); see its log", p.name, p.err)
		}
		if resp, err := cl.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 within %s", url, timeout)
}

// portFree reports whether nothing listens on addr, so a clash with another
// test is reported before it spoils a measurement.
func portFree(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return true
	}
	c.Close()
	return false
}
