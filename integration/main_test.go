package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/mitosis-run/mitosis/pool"
)

// The integration tests run the real binary: TestMain builds it (and the
// test apps under testdata/) once into a temporary directory.
var (
	mitosisBin string
	echoappBin string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mitosis-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A plain (non -race) build: the processes are black boxes here, and a
	// race-built binary is several times slower on a shared 2-core machine,
	// which would turn timing bounds into flakes. The packages themselves
	// run their own tests with -race.
	for _, b := range []struct {
		out  *string
		name string
		pkg  string
	}{{&mitosisBin, "mitosis", ".."}, {&echoappBin, "echoapp", "./testdata/echoapp"}} {
		*b.out = filepath.Join(dir, b.name)
		cmd := exec.Command(goTool(), "build", "-o", *b.out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n", b.pkg, err)
			return 1
		}
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// freeAddr returns a 127.0.0.1 address nobody listens on right now: bind
// port 0, note the port, close.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one mitosis process started by a test.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	pub     string // public address
	admin   string // admin address
	logPath string
	token   string        // MITOSIS_CLUSTER_TOKEN, sent with state polls
	done    chan struct{} // closed when the process was reaped
	ps      *os.ProcessState
}

// baseEnv is the test's environment without MITOSIS_* or Docker settings,
// so nothing from the outside changes what a test runs.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MITOSIS_") || strings.HasPrefix(kv, "DOCKER_") || strings.HasPrefix(kv, "PORT=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// newProc names a mitosis process and picks its loopback ports; start runs
// it. Tests that wire siblings together need the addresses first.
func newProc(t *testing.T, name string) *proc {
	t.Helper()
	return &proc{t: t, name: name, pub: freeAddr(t), admin: freeAddr(t), done: make(chan struct{})}
}

// startProc starts mitosis with the given MITOSIS_* settings (KEY=value)
// on fresh loopback ports, with MITOSIS_DRIVER=off unless env says
// otherwise. It does not wait for readiness. Cleanup kills it.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := newProc(t, name)
	p.start(env, args...)
	return p
}

func (p *proc) start(env []string, args ...string) {
	t := p.t
	t.Helper()
	full := append(baseEnv(),
		"MITOSIS_LISTEN="+p.pub,
		"MITOSIS_ADMIN_LISTEN="+p.admin,
		"MITOSIS_REPLICA_ID="+p.name,
		"MITOSIS_DRIVER=off",
	)
	full = append(full, env...) // later entries win in loadConfig
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "MITOSIS_CLUSTER_TOKEN="); ok {
			p.token = v
		}
	}
	p.logPath = filepath.Join(t.TempDir(), p.name+".log")
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p.cmd = exec.Command(mitosisBin, args...)
	p.cmd.Env = full
	// A file, not a pipe: children (the app, process replicas) inherit it,
	// and a pipe would make Wait wait for them too.
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.ps = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", p.name, p.log())
		}
	})
}

// startReady starts mitosis and waits until /readyz answers 200.
func startReady(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := startProc(t, name, env, args...)
	p.waitReady(10 * time.Second)
	return p
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) waitReady(timeout time.Duration) {
	p.t.Helper()
	ready := poll(timeout, func() bool {
		if p.exited() {
			return true
		}
		code, _, err := get(p.adminURL("/readyz"), nil)
		return err == nil && code == http.StatusOK
	})
	if p.exited() {
		p.t.Fatalf("%s exited before it was ready: %v", p.name, p.ps)
	}
	if !ready {
		p.t.Fatalf("%s not ready within %s", p.name, timeout)
	}
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// waitExit waits up to timeout for the process to end and returns its exit
// status (-1 when killed by a signal).
func (p *proc) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.ps.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("%s still running %s later", p.name, timeout)
		return 0
	}
}

func (p *proc) pubURL(path string) string   { return "http://" + p.pub + path }
func (p *proc) adminURL(path string) string { return "http://" + p.admin + path }

// shortClient is for one-off admin requests.
var shortClient = &http.Client{Timeout: 3 * time.Second}

// get does one GET with optional headers and returns status and body.
func get(url string, hdr map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := shortClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// stateDocJSON is the part of /_mitosis/state the tests read.
type stateDocJSON struct {
	pool.State
	Members  []pool.Member `json:"members"`
	Replicas *struct {
		Driver  string `json:"driver"`
		Desired int    `json:"desired"`
		Running int    `json:"running"`
	} `json:"replicas"`
}

// state reads /_mitosis/state; nil hdr sends the cluster token if any.
func (p *proc) state(hdr map[string]string) (stateDocJSON, error) {
	var s stateDocJSON
	if hdr == nil && p.token != "" {
		hdr = map[string]string{"X-Mitosis-Token": p.token}
	}
	code, body, err := get(p.adminURL("/_mitosis/state"), hdr)
	if err != nil {
		return s, err
	}
	if code != http.StatusOK {
		return s, fmt.Errorf("state: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return s, fmt.Errorf("state JSON: %w: %s", err, body)
	}
	return s, nil
}

// metrics returns the samples of /metrics as "name{labels}" -> value.
func (p *proc) metrics() (map[string]float64, error) {
	code, body, err := get(p.adminURL("/metrics"), nil)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("metrics: %d", code)
	}
	return parseMetrics(body), nil
}

func parseMetrics(body string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// loadClient is an HTTP client for load: enough keep-alive connections for
// every worker, no overall timeout (each request carries a context).
func loadClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// result is one request of a load run.
type result struct {
	start, end time.Time
	code       int
	replica    string
	retryAfter string
	body       string
	err        error
}

// doGet does one GET with a timeout and reads the whole body.
func doGet(c *http.Client, url string, hdr map[string]string, timeout time.Duration) result {
	r := result{start: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		r.err = err
		return r
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		r.err, r.end = err, time.Now()
		return r
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.end = time.Now()
	r.code, r.body, r.err = resp.StatusCode, string(b), err
	r.replica = resp.Header.Get("X-Mitosis-Replica")
	r.retryAfter = resp.Header.Get("Retry-After")
	return r
}

// runLoad runs workers goroutines that each GET url in a loop until d has
// passed (or stop is closed), and returns every result.
func runLoad(c *http.Client, workers int, d time.Duration, stop <-chan struct{}, url func(worker, i int) string) []result {
	deadline := time.Now().Add(d)
	ch := make(chan []result, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var rs []result
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					ch <- rs
					return
				default:
				}
				rs = append(rs, doGet(c, url(w, i), nil, 10*time.Second))
			}
			ch <- rs
		}(w)
	}
	var all []result
	for w := 0; w < workers; w++ {
		all = append(all, <-ch...)
	}
	return all
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// waitFor polls cond until it is true, or fails the test once timeout
// has passed.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// poll calls cond every 20ms until it returns true (true) or timeout has
// passed (false). Safe from any goroutine.
func poll(timeout time.Duration, cond func() bool) bool {
	return wait.Until(timeout, 20*time.Millisecond, cond)
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state letter follows the ")" that closes the command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// childrenOf lists the pids whose parent is pid (Linux /proc).
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

// integration skips the tests that run the binary in -short mode, and off
// Linux: they read /proc to find the processes mitosis started.
func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs the mitosis binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("integration tests read /proc")
	}
}

// runOnce runs the binary with args and the MITOSIS_* settings in env to
// its end (a subcommand), and returns its exit status and output.
func runOnce(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mitosisBin, args...)
	cmd.Env = append(baseEnv(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running mitosis %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}
