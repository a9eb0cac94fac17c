package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// memRow is one target of the memory table (sizes in KiB).
type memRow struct {
	name        string
	idleKB      uint64 // VmRSS after start-up and one request
	loadedKB    uint64 // VmRSS with the idle connections open
	hwmKB       uint64 // VmHWM at the end
	established int
	failed      int
}

// perConnKB is the RSS growth per established idle connection.
func (m memRow) perConnKB() float64 {
	if m.established == 0 || m.loadedKB < m.idleKB {
		return 0
	}
	return float64(m.loadedKB-m.idleKB) / float64(m.established)
}

// runMemory starts a fresh instance of each target, reads its idle RSS,
// opens r.o.idleConns keep-alive connections to it (one request each, then
// idle) with bench/idleconns, and reads the RSS again.
func (r *runner) runMemory(ctx context.Context, starters []starter) ([]memRow, error) {
	var rows []memRow
	for _, st := range starters {
		r.logf("memory: %s, idle and with %d idle keep-alive connections", st.name, r.o.idleConns)
		t, err := st.start(ctx)
		if err != nil {
			return nil, err
		}
		row, err := r.memoryOf(ctx, t)
		for _, p := range t.procs {
			r.ps.stopOne(p)
		}
		if err != nil {
			return nil, fmt.Errorf("memory %s: %w", t.name, err)
		}
		r.logf("  idle %s, loaded %s (%d connections, %d failed), %.1f KiB per connection", mib(row.idleKB), mib(row.loadedKB), row.established, row.failed, row.perConnKB())
		rows = append(rows, row)
	}
	return rows, nil
}

func (r *runner) memoryOf(ctx context.Context, t *target) (memRow, error) {
	row := memRow{name: t.name}
	resp, err := http.Get(t.url)
	if err != nil {
		return row, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	settle(ctx, 2*time.Second)
	rss := func(field string) uint64 {
		var kb uint64
		for _, p := range t.procs {
			kb += treeMemKB(p.pid(), field)
		}
		return kb
	}
	row.idleKB = rss("VmRSS")

	addr := strings.TrimSuffix(strings.TrimPrefix(t.url, "http://"), "/")
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	n := r.o.idleConns
	if t.maxIdle > 0 {
		n = min(n, t.maxIdle)
	}
	cmd := exec.CommandContext(cctx, r.bin("idleconns"), "-addr", addr, "-n", strconv.Itoa(n), "-hold", "2m")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return row, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return row, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return row, err
	}
	defer func() {
		stdin.Close() // tells idleconns to close its connections and exit
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return row, fmt.Errorf("idleconns: %w: %s", err, stderr.String())
	}
	if _, err := fmt.Sscanf(line, "ready %d %d", &row.established, &row.failed); err != nil {
		return row, fmt.Errorf("idleconns said %q: %w", line, err)
	}
	settle(ctx, 2*time.Second)
	row.loadedKB = rss("VmRSS")
	row.hwmKB = rss("VmHWM")
	return row, nil
}

func settle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func mib(kb uint64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
