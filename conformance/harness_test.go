package conformance

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/certs/certtest"
	"github.com/mitosis-run/mitosis/internal/wait"
)

// mitosisBin is the binary under test, built once by TestMain (without
// -race: it is a black box here, and a race build is several times slower
// on a shared machine).
var mitosisBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mitosis-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	mitosisBin = filepath.Join(dir, "mitosis")
	cmd := exec.Command(goTool(), "build", "-o", mitosisBin, ".")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		return 1
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// freeAddr is a 127.0.0.1 address nobody listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replica is one running mitosis process.
type replica struct {
	pub, admin string
	cmd        *exec.Cmd
	log        *syncBuffer
	// With an HTTPS listener: its address and a client configuration that
	// trusts it (HTTP/1.1 by ALPN); dial then speaks TLS.
	tlsAddr string
	tlsCfg  *tls.Config
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startMitosis runs the binary with env (KEY=value) on fresh loopback
// ports, the driver off, and waits until it is ready. It is stopped (and
// its log shown if the test failed) at the end of the test.
func startMitosis(t testing.TB, env ...string) *replica {
	t.Helper()
	r := &replica{pub: freeAddr(t), admin: freeAddr(t), log: &syncBuffer{}}
	r.cmd = exec.Command(mitosisBin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MITOSIS_") && !strings.HasPrefix(kv, "DOCKER_") {
			r.cmd.Env = append(r.cmd.Env, kv)
		}
	}
	r.cmd.Env = append(r.cmd.Env, "MITOSIS_LISTEN="+r.pub, "MITOSIS_ADMIN_LISTEN="+r.admin,
		"MITOSIS_DRIVER=off", "MITOSIS_REPLICA_ID=conf", "MITOSIS_DRAIN_DELAY=0s", "MITOSIS_DRAIN_TIMEOUT=2s")
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- mitosis log:\n%s", r.log.String())
		}
	})
	exited := false
	ready := wait.Until(15*time.Second, 20*time.Millisecond, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		resp, err := http.Get("http://" + r.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	switch {
	case exited:
		t.Fatalf("mitosis exited at start-up:\n%s", r.log.String())
	case !ready:
		t.Fatalf("mitosis not ready in 15s:\n%s", r.log.String())
	}
	return r
}

// metric reads one sample (name with its labels, as /metrics prints it)
// from the replica's /metrics; -1 when absent.
func (r *replica) metric(t testing.TB, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + r.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			var v float64
			_, _ = fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// rawUpstream is the app: a TCP server that records every byte each
// connection sent it, reads requests with net/http's reader, and answers
// each with what answer returns (raw bytes; it may also write to c itself,
// later). nil from answer closes the connection.
type rawUpstream struct {
	ln     net.Listener
	answer answerFunc
	mu     sync.Mutex
	conns  [][]byte // bytes received, per connection
	reqs   []string // "METHOD target" of each request read
	wg     sync.WaitGroup
}

type answerFunc func(req *http.Request, body []byte, c net.Conn) []byte

func newRawUpstream(t testing.TB, answer answerFunc) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, answer: answer}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				u.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *rawUpstream) addr() string { return u.ln.Addr().String() }

type recorder struct {
	u *rawUpstream
	i int
	c net.Conn
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	r.u.mu.Lock()
	r.u.conns[r.i] = append(r.u.conns[r.i], p[:n]...)
	r.u.mu.Unlock()
	return n, err
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	u.mu.Lock()
	u.conns = append(u.conns, nil)
	i := len(u.conns) - 1
	u.mu.Unlock()
	_ = c.SetDeadline(time.Now().Add(90 * time.Second))
	br := bufio.NewReader(&recorder{u: u, i: i, c: c})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, req.Method+" "+req.RequestURI)
		u.mu.Unlock()
		out := u.answer(req, body, c)
		if out == nil {
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// received is everything the upstream received, all connections.
func (u *rawUpstream) received() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var b strings.Builder
	for _, c := range u.conns {
		b.Write(c)
	}
	return b.String()
}

func (u *rawUpstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.reqs...)
}

// ok is a plain answer naming what the upstream saw.
func ok(body string) []byte {
	return []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
}

// client is a raw client connection.
type client struct {
	t testing.TB
	net.Conn
	br *bufio.Reader
}

// tlsListener is the environment of an HTTPS listener with a self-signed
// certificate, its address, and a client configuration that trusts it.
func tlsListener(t testing.TB) (string, []string, *tls.Config) {
	t.Helper()
	now := time.Now()
	cf, kf, roots, err := certtest.Write(t.TempDir(), now.Add(-time.Hour), now.Add(time.Hour), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := []string{"MITOSIS_TLS_LISTEN=" + addr, "MITOSIS_TLS_CERT=" + cf, "MITOSIS_TLS_KEY=" + kf}
	return addr, env, &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}}
}

// dial is a client of the replica's public listener, or of its HTTPS one
// when it has one.
func (r *replica) dial(t testing.TB) *client {
	t.Helper()
	if r.tlsCfg == nil {
		return dial(t, r.pub)
	}
	c, err := tls.Dial("tcp", r.tlsAddr, r.tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, Conn: c, br: bufio.NewReader(c)}
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, Conn: c, br: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to method with its whole body.
func (c *client) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection: EOF or a reset
// within wait.
func (c *client) closed(wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c.br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}
