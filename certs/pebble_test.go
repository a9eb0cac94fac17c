package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// pebble is Let's Encrypt's test CA run in-process: its web front end on
// an httptest TLS server, its validation authority resolving every name to
// 127.0.0.1 (through a tiny DNS server) and fetching HTTP-01 answers from
// 127.0.0.1:httpPort, as the real CA fetches them from port 80.
type pebble struct {
	dir      string       // ACME directory URL
	client   *http.Client // trusts the front end's certificate
	roots    *x509.CertPool
	orders   atomic.Int64 // new orders the CA accepted
	accounts atomic.Int64 // new accounts the CA created
}

func startPebble(t *testing.T, httpPort int, validity time.Duration) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // validate at once, not after a random 0-5 s
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(testWriter{t}, "pebble ", 0)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test", ValidityPeriod: uint64(validity.Seconds())},
	})
	v := va.New(logger, httpPort, 0, false, startDNS(t), store)
	front := wfe.New(logger, store, v, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	p := &pebble{}
	h := front.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == http.StatusCreated {
			switch r.URL.Path {
			case "/order-plz":
				p.orders.Add(1)
			case "/sign-me-up":
				p.accounts.Add(1)
			}
		}
	}))
	t.Cleanup(srv.Close)
	p.dir, p.client = srv.URL+wfe.DirectoryPath, srv.Client()

	mgmt := httptest.NewTLSServer(front.ManagementHandler())
	t.Cleanup(mgmt.Close)
	resp, err := mgmt.Client().Get(mgmt.URL + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.roots = x509.NewCertPool()
	if !p.roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble's root does not parse: %q", rootPEM)
	}
	return p
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// startDNS answers every A question with 127.0.0.1 and every other with
// nothing, over TCP (pebble's VA asks over TCP).
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// front stands for the platform's load balancing in front of the redirect
// listeners: requests to it go round-robin to the replicas, so the CA's
// validations land on followers too. Its counts say who answered what.
type front struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []*url.URL
	next     int
	answers  map[int][]int // backend index -> status codes
}

func newFront(t *testing.T) *front {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{ln: ln, answers: map[int][]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			f.mu.Lock()
			i := f.next % len(f.backends)
			f.next++
			u := f.backends[i]
			f.mu.Unlock()
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set("X-Backend", strconv.Itoa(i))
		},
		ModifyResponse: func(r *http.Response) error {
			i, _ := strconv.Atoi(r.Request.Header.Get("X-Backend"))
			f.mu.Lock()
			f.answers[i] = append(f.answers[i], r.StatusCode)
			f.mu.Unlock()
			return nil
		},
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

func (f *front) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *front) add(u string) {
	pu, _ := url.Parse(u)
	f.mu.Lock()
	f.backends = append(f.backends, pu)
	f.mu.Unlock()
}

func (f *front) remove(u string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, b := range f.backends {
		if b.String() == u {
			f.backends = append(f.backends[:i], f.backends[i+1:]...)
			return
		}
	}
}

func (f *front) answered() map[int][]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int][]int{}
	for k, v := range f.answers {
		out[k] = append([]int(nil), v...)
	}
	return out
}

// fakeTier is a replica's view of the tier, set by the test.
type fakeTier struct {
	mu     sync.Mutex
	leader bool
	peers  []string
}

func (f *fakeTier) Leader() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeTier) Peers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.peers...)
}

func (f *fakeTier) set(leader bool, peers ...string) {
	f.mu.Lock()
	f.leader, f.peers = leader, peers
	f.mu.Unlock()
}

// clock is a test clock: real time plus an offset the test sets.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// renewNow sets the clock just past the renewal time of cert c, and
// returns a function that sets it back. The certificate that renews c
// starts at least margin later (the caller waits for that), so the clock
// is not yet in its own renewal window.
func (c *clock) renewNow(t *testing.T, cert *tls.Certificate) (reset func()) {
	t.Helper()
	const margin = 3 * time.Second
	nb, na := cert.Leaf.NotBefore, cert.Leaf.NotAfter
	// x509 times count whole seconds: the renewal must be issued a few
	// seconds after c for its renewal time to lie after the one set here.
	if d := time.Until(nb.Add(margin)); d > 0 {
		time.Sleep(d)
	}
	c.off.Store(int64(time.Until(renewAt(nb, na, DefaultConfig().RenewWindow).Add(200 * time.Millisecond))))
	return func() { c.off.Store(0) }
}

// replica is one Manager with its admin, redirect and HTTPS servers.
type replica struct {
	mg    *Manager
	m     *Metrics
	tier  *fakeTier
	admin string // host:port
	https string // host:port
	stop  func()
}

const testToken = "cluster-secret"

var testDomains = []string{"a.mitosis.test", "b.mitosis.test"}

func startReplica(t *testing.T, p *pebble, f *front, clk *clock, store string) *replica {
	t.Helper()
	m, _ := newTestMetrics(t)
	cfg := DefaultConfig()
	cfg.Domains, cfg.RedirectListen = testDomains, ":0"
	cfg.CA, cfg.ACMEClient, cfg.Token, cfg.StoreDir = p.dir, p.client, testToken, store
	cfg.SyncInterval, cfg.Settle = 50*time.Millisecond, 200*time.Millisecond
	cfg.RetryMin, cfg.RetryMax, cfg.OrderTimeout = 100*time.Millisecond, time.Second, 30*time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &replica{m: m, tier: &fakeTier{}}
	var err error
	log := quietLog()
	if testing.Verbose() {
		log = testLogger(t)
	}
	if r.mg, err = New(cfg, r.tier, m, log, clk.now); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(r.mg.AdminHandler())
	redirect := httptest.NewServer(r.mg.RedirectHandler(443))
	if f != nil {
		f.add(redirect.URL)
	}
	r.admin = strings.TrimPrefix(admin.URL, "http://")
	r.https = httpsServer(t, r.mg, m, 5*time.Second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app over "+r.Proto)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.mg.Run(ctx); close(done) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			if f != nil {
				f.remove(redirect.URL)
			}
			cancel()
			<-done
			admin.Close()
			redirect.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

// served is the serial of the leaf a real HTTPS client gets from r, after
// verifying the chain to pebble's root for name; "" if the handshake fails.
func (r *replica) served(t *testing.T, p *pebble, name string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", r.https,
		&tls.Config{RootCAs: p.roots, ServerName: name, NextProtos: []string{"h2"}})
	if err != nil {
		return ""
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.NegotiatedProtocol != "h2" {
		t.Errorf("negotiated %q; want h2", st.NegotiatedProtocol)
	}
	return st.PeerCertificates[0].SerialNumber.String()
}

func serialOf(c *tls.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Leaf.SerialNumber.String()
}

// Three replicas, one leader: one account and one order at the CA, the
// challenges answered by whichever replica the CA reaches, all three
// serving the certificate; a renewal before expiry reaches all three
// without a restart; a new replica serves the tier's certificate as soon
// as it has pulled once, without an order; a new leader renews with the
// same account.
func TestTierSharesOneCertificate(t *testing.T) {
	f := newFront(t)
	p := startPebble(t, f.port(), time.Hour)
	clk := &clock{}
	var rs []*replica
	for i := 0; i < 3; i++ {
		rs = append(rs, startReplica(t, p, f, clk, ""))
	}
	// Replica 0 leads; each lists its siblings, the leader first.
	rs[0].tier.set(true, rs[1].admin, rs[2].admin)
	rs[1].tier.set(false, rs[0].admin, rs[2].admin)
	rs[2].tier.set(false, rs[0].admin, rs[1].admin)

	eventually(t, 30*time.Second, "all three replicas serve a certificate", func() bool {
		for _, r := range rs {
			if r.served(t, p, testDomains[1]) == "" {
				return false
			}
		}
		return true
	})
	first := serialOf(rs[0].mg.Certificate())
	for i, r := range rs {
		if got := r.served(t, p, testDomains[0]); got != first {
			t.Fatalf("replica %d serves %s; want the tier's %s", i, got, first)
		}
		if !r.mg.Ready() {
			t.Fatalf("replica %d not ready", i)
		}
	}
	if o, a := p.orders.Load(), p.accounts.Load(); o != 1 || a != 1 {
		t.Fatalf("the CA saw %d orders and %d accounts; want 1 and 1", o, a)
	}
	if got := counter(rs[0].m.orders.WithLabelValues("obtain", "ok")); got != 1 {
		t.Fatalf("leader's obtain ok = %v; want 1", got)
	}
	// The CA's validations went round-robin: followers answered too, and
	// every answer was a 200.
	ans := f.answered()
	for i := 0; i < 3; i++ {
		for _, code := range ans[i] {
			if code != http.StatusOK {
				t.Fatalf("replica %d answered a validation with %d (all: %v)", i, code, ans)
			}
		}
	}
	if len(ans[1])+len(ans[2]) == 0 {
		t.Fatalf("no validation reached a follower: %v", ans)
	}
	// The expiry metric names each domain.
	exp := rs[1].mg.Certificate().Leaf.NotAfter.Unix()
	for _, d := range testDomains {
		if got := counter(rs[1].m.expiry.WithLabelValues(d)); got != float64(exp) {
			t.Fatalf("expiry{name=%s} = %v; want %d", d, got, exp)
		}
	}

	// Renewal: move every clock into the renewal window (the last third
	// of the one-hour lifetime). Only the leader orders; all three serve
	// the new certificate.
	reset := clk.renewNow(t, rs[0].mg.Certificate())
	for _, r := range rs {
		r.mg.Poke()
	}
	eventually(t, 30*time.Second, "the leader renews", func() bool { return counter(rs[0].m.orders.WithLabelValues("renew", "ok")) == 1 })
	reset()
	eventually(t, 30*time.Second, "all three serve the renewed certificate", func() bool {
		for _, r := range rs {
			if s := r.served(t, p, testDomains[0]); s == "" || s == first {
				return false
			}
		}
		return true
	})
	second := serialOf(rs[0].mg.Certificate())
	for i, r := range rs {
		if got := r.served(t, p, testDomains[0]); got != second {
			t.Fatalf("replica %d serves %s after the renewal; want %s", i, got, second)
		}
	}
	if o := p.orders.Load(); o != 2 {
		t.Fatalf("the CA saw %d orders after one renewal; want 2", o)
	}
	if got := counter(rs[0].m.orders.WithLabelValues("renew", "ok")); got != 1 {
		t.Fatalf("leader's renew ok = %v; want 1", got)
	}

	// A new replica pulls once and serves at once, with no order; even
	// one whose first view of the tier says it leads (it does not know its
	// siblings' ids yet) takes the tier's certificate rather than order.
	nr := startReplica(t, p, nil, clk, "")
	nr.tier.set(true, rs[0].admin)
	eventually(t, 10*time.Second, "the new replica is ready", nr.mg.Ready)
	if got := nr.served(t, p, testDomains[0]); got != second {
		t.Fatalf("the new replica serves %q; want %s", got, second)
	}
	nr.tier.set(false, rs[0].admin)
	if o := p.orders.Load(); o != 2 {
		t.Fatalf("the CA saw %d orders after a replica joined; want still 2", o)
	}

	// The leader goes away; replica 1 takes over and renews with the
	// account it already holds: still one account at the CA.
	rs[0].stop()
	rs[1].tier.set(true, rs[2].admin, nr.admin)
	rs[2].tier.set(false, rs[1].admin, nr.admin)
	nr.tier.set(false, rs[1].admin, rs[2].admin)
	reset = clk.renewNow(t, rs[1].mg.Certificate())
	for _, r := range []*replica{rs[1], rs[2], nr} {
		r.mg.Poke()
	}
	eventually(t, 30*time.Second, "the new leader renews", func() bool { return counter(rs[1].m.orders.WithLabelValues("renew", "ok")) == 1 })
	reset()
	eventually(t, 30*time.Second, "the new leader's renewal reaches the others", func() bool {
		for _, r := range []*replica{rs[2], nr} {
			if s := r.served(t, p, testDomains[0]); s == "" || s == second {
				return false
			}
		}
		return true
	})
	if o, a := p.orders.Load(), p.accounts.Load(); o != 3 || a != 1 {
		t.Fatalf("the CA saw %d orders and %d accounts; want 3 and 1", o, a)
	}
}
