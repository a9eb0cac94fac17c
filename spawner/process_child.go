package spawner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// child is one started child process. The fields after done are guarded by
// Process.mu.
type child struct {
	n              int
	id             string
	addr           string // public listener, 127.0.0.1:port
	admin          string // admin listener, 127.0.0.1:port
	cmd            *exec.Cmd
	started        time.Time
	done           chan struct{} // closed once the process was reaped
	ready          bool
	retiring       bool // SIGTERM sent (retired or closing): not listed, not counted
	killedNotReady bool // killed for missing StartTimeout
}

func (c *child) replica() Replica {
	return Replica{ID: c.id, Addr: c.addr, AdminAddr: c.admin, PID: c.cmd.Process.Pid, Ready: c.ready, Started: c.started}
}

type startRequest struct {
	cmd *exec.Cmd
	res chan error
}

// starter forks every child. On Linux a child's Pdeathsig fires when the OS
// thread that forked it exits, not when the process does, and the Go
// runtime may retire idle threads. So all forks happen on this goroutine,
// locked to its thread and never unlocked: the thread lives until Close has
// reaped every child and closes startc.
func (p *Process) starter(ready chan<- struct{}) {
	runtime.LockOSThread()
	close(ready)
	for req := range p.startc {
		req.res <- req.cmd.Start()
	}
}

// supervise converges the children on the wanted count, on every poke and
// every PollInterval, until Close.
func (p *Process) supervise() {
	defer p.superv.Done()
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		p.reconcile()
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-p.poke:
		}
	}
}

func (p *Process) reconcile() {
	p.mu.Lock()
	missing := p.wanted - p.activeLocked()
	wait := time.Until(p.nextStart)
	p.mu.Unlock()
	switch {
	case missing > 0 && wait <= 0:
		for i := 0; i < missing && p.ctx.Err() == nil; i++ {
			if err := p.startChild(); err != nil {
				d := p.recordFailure()
				p.log.Error("child start failed", "err", err, "retry_in", d)
				return
			}
		}
	case missing < 0:
		p.retire()
	}
}

// activeLocked counts children that are not retiring.
func (p *Process) activeLocked() int {
	n := 0
	for _, c := range p.children {
		if !c.retiring {
			n++
		}
	}
	return n
}

// recordFailure counts one more failed child and pushes the next start out
// by the backoff, which it returns.
func (p *Process) recordFailure() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recordFailureLocked()
}

func (p *Process) recordFailureLocked() time.Duration {
	p.failures++
	d := p.cfg.RestartBackoff
	for i := 1; i < p.failures && d < p.cfg.MaxRestartBackoff; i++ {
		d *= 2
	}
	d = min(d, p.cfg.MaxRestartBackoff)
	p.nextStart = time.Now().Add(d)
	return d
}

func (p *Process) startChild() error {
	addrs, err := freeLoopbackAddrs(2)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.nextN++
	n := p.nextN
	p.mu.Unlock()
	id := fmt.Sprintf("%s-%d", p.cfg.ParentID, n)
	cmd := exec.Command(p.cfg.Binary, p.cfg.Args...)
	cmd.Env = childEnv(p.cfg.Env, [][2]string{
		{"MITOSIS_LISTEN", addrs[0]},
		{"MITOSIS_ADMIN_LISTEN", addrs[1]},
		// A child must not scale (only the parent owns its children) and
		// finds its siblings through the parent alone.
		{"MITOSIS_DRIVER", "off"},
		{"MITOSIS_DISCOVERY", "static"},
		{"MITOSIS_PEERS", p.cfg.ParentAdmin},
		{"MITOSIS_REPLICA_ID", id},
		{"MITOSIS_PARENT_PID", strconv.Itoa(os.Getpid())},
	})
	cmd.Stdout, cmd.Stderr = p.cfg.Stdout, p.cfg.Stderr
	cmd.SysProcAttr = sysProcAttr()
	res := make(chan error, 1)
	p.startc <- startRequest{cmd: cmd, res: res} // the starter outlives the supervisor
	if err := <-res; err != nil {
		return fmt.Errorf("start %s (%s): %w", id, p.cfg.Binary, err)
	}
	c := &child{n: n, id: id, addr: addrs[0], admin: addrs[1], cmd: cmd, started: time.Now(), done: make(chan struct{})}
	p.mu.Lock()
	p.children[n] = c
	p.mu.Unlock()
	p.log.Info("child started", "id", id, "pid", cmd.Process.Pid, "addr", c.addr, "admin", c.admin)
	p.bg.Add(2)
	go p.reap(c)
	go p.awaitReady(c)
	return nil
}

// reap waits for the child's exit. An exit nobody asked for counts as a
// failure (backoff) and the supervisor starts a replacement.
func (p *Process) reap(c *child) {
	defer p.bg.Done()
	waitErr := c.cmd.Wait()
	p.mu.Lock()
	delete(p.children, c.n)
	expected := c.retiring || p.closing
	notReady := c.killedNotReady
	var retry time.Duration
	if !expected {
		retry = p.recordFailureLocked()
	}
	p.mu.Unlock()
	close(c.done)

	attrs := []any{"id", c.id, "pid", c.cmd.Process.Pid, "ran", time.Since(c.started).Round(time.Millisecond)}
	if st := c.cmd.ProcessState; st != nil {
		attrs = append(attrs, "exit", st.String(), "code", st.ExitCode())
	} else {
		attrs = append(attrs, "err", waitErr)
	}
	switch {
	case expected:
		p.log.Info("child exited", attrs...)
	case notReady:
		p.log.Warn("child killed: not ready in time; replacing", append(attrs, "start_timeout", p.cfg.StartTimeout, "retry_in", retry)...)
	default:
		p.log.Warn("child exited unexpectedly; replacing", append(attrs, "retry_in", retry)...)
	}
	p.wake()
}

// awaitReady polls the child's /readyz until it answers 200, the child
// exits, or StartTimeout passes (then the child is killed and replaced).
func (p *Process) awaitReady(c *child) {
	defer p.bg.Done()
	deadline := time.NewTimer(p.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	for {
		if p.probeReady(c.admin) {
			p.mu.Lock()
			c.ready = true
			p.failures, p.nextStart = 0, time.Time{}
			p.mu.Unlock()
			p.log.Info("child ready", "id", c.id, "pid", c.cmd.Process.Pid, "after", time.Since(c.started).Round(time.Millisecond))
			p.wake()
			return
		}
		select {
		case <-c.done:
			return
		case <-p.ctx.Done():
			return
		case <-tick.C:
		case <-deadline.C:
			p.mu.Lock()
			kill := !c.retiring
			c.killedNotReady = kill
			p.mu.Unlock()
			if kill {
				_ = c.cmd.Process.Kill() // ErrProcessDone: it exited meanwhile, reap handles it
			}
			return
		}
	}
}

func (p *Process) probeReady(admin string) bool {
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// retire sends SIGTERM to as many children as exceed the wanted count,
// idlest first (by cfg.Load; ties: the newest). A child not ready yet
// carries no load and goes first; a child whose load cannot be read counts
// as idle. A retired child leaves Replicas at once and drains on its own.
func (p *Process) retire() {
	p.mu.Lock()
	var cands []*child
	ready := make(map[*child]bool)
	for _, c := range p.children {
		if !c.retiring {
			cands = append(cands, c)
			ready[c] = c.ready
		}
	}
	p.mu.Unlock()

	loads := make(map[*child]int, len(cands))
	type result struct {
		c    *child
		load int
	}
	res := make(chan result, len(cands))
	for _, c := range cands {
		if !ready[c] {
			res <- result{c, -1}
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(p.ctx, loadTimeout)
			defer cancel()
			l, err := p.cfg.Load(ctx, c.admin)
			if err != nil {
				p.log.Debug("child load unknown; counted as idle", "id", c.id, "err", err)
				l = 0
			}
			res <- result{c, l}
		}()
	}
	for range cands {
		r := <-res
		loads[r.c] = r.load
	}
	slices.SortFunc(cands, func(a, b *child) int {
		if loads[a] != loads[b] {
			return loads[a] - loads[b]
		}
		return b.n - a.n // newest first
	})

	p.mu.Lock()
	excess := p.activeLocked() - p.wanted // wanted may have moved during Load
	var chosen []*child
	for _, c := range cands {
		if excess <= 0 {
			break
		}
		if c.retiring || p.children[c.n] != c {
			continue // exited or retired meanwhile
		}
		c.retiring = true
		chosen = append(chosen, c)
		excess--
	}
	p.mu.Unlock()
	for _, c := range chosen {
		p.log.Info("retiring child", "id", c.id, "pid", c.cmd.Process.Pid, "load", loads[c])
		terminate(c.cmd.Process)
		p.bg.Add(1)
		go p.killAfter(c)
	}
}

// killAfter sends SIGKILL to a retired child still alive after StopTimeout.
func (p *Process) killAfter(c *child) {
	defer p.bg.Done()
	t := time.NewTimer(p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		p.log.Warn("retired child still running; killing", "id", c.id, "pid", c.cmd.Process.Pid, "stop_timeout", p.cfg.StopTimeout)
		_ = c.cmd.Process.Kill()
	}
}

// stateLoad is the default Load: in-flight plus queued from the child's
// GET /_mitosis/state.
func (p *Process) stateLoad(ctx context.Context, admin string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/_mitosis/state", nil)
	if err != nil {
		return 0, fmt.Errorf("load of %s: %w", admin, err)
	}
	if p.cfg.Token != "" {
		req.Header.Set(pool.TokenHeader, p.cfg.Token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("load of %s: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("load of %s: status %s", admin, resp.Status)
	}
	var st pool.State
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return 0, fmt.Errorf("load of %s: decode state: %w", admin, err)
	}
	return st.Inflight + st.Queued, nil
}

// terminate asks a process to stop: SIGTERM, or a kill where signals other
// than kill do not exist (Windows).
func terminate(proc *os.Process) {
	err := proc.Signal(syscall.SIGTERM)
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = proc.Kill()
	}
}

// childEnv returns base without the keys of set, followed by set.
func childEnv(base []string, set [][2]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(set, func(s [2]string) bool { return s[0] == k }) {
			out = append(out, kv)
		}
	}
	for _, s := range set {
		out = append(out, s[0]+"="+s[1])
	}
	return out
}

// freeLoopbackAddrs returns n distinct free ports on 127.0.0.1. The
// listeners stay open until all are picked so the kernel cannot hand out
// the same port twice; a child that later loses its port to someone else
// fails readiness and is replaced.
func freeLoopbackAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free loopback port: %w", err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
