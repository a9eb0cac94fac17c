package balancer

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/pool"
)

// TestHopSpoofingChangesNothing: with the default settings (no token) a
// client that sends X-Mitosis-Hop (and X-Mitosis-Token, X-Forwarded-*,
// Forwarded) gets exactly what it would without them, on both transports:
// the app sees the same fields, the client never sees X-Mitosis-Load. The
// same holds for a client on the siblings' own host (the process driver)
// once a token is set, as that driver does by default.
func TestHopSpoofingChangesNothing(t *testing.T) {
	seen := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lines []string
		for k, v := range r.Header {
			if k == "Accept-Encoding" || k == "User-Agent" {
				continue
			}
			lines = append(lines, k+": "+strings.Join(v, ","))
		}
		sort.Strings(lines)
		seen <- strings.Join(lines, "\n")
		w.Header().Set(pool.LoadHeader, "i=99;q=0;c=1;l=1;d=0") // the app's own, passed on to clients
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	elsewhere := pool.Member{Key: "10.9.9.9:9090", ID: "far", Addr: "10.9.9.9:8080", State: pool.StateReady, Capacity: 4}
	loopback := pool.Member{Key: "127.0.0.1:9091", ID: "near", Addr: "127.0.0.1:1", State: pool.StateJoining}
	setups := []struct {
		name    string
		token   string
		members []pool.Member
	}{
		{name: "default, siblings elsewhere", members: []pool.Member{elsewhere}},
		{name: "default, no siblings"},
		{name: "token, siblings on the client's host", token: "generated", members: []pool.Member{loopback}},
	}
	spoof := map[string]string{
		HopHeader: "evil", TokenHeader: "guess", "X-Forwarded-For": "203.0.113.66",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bank.example", "Forwarded": "for=203.0.113.66",
		pool.LoadHeader: "i=0;q=0;c=1;l=1;d=0", ReplicaHeader: "evil", "X-Mitosis-Anything": "x",
	}
	for _, su := range setups {
		for _, transport := range []string{"fast path", "net/http"} {
			t.Run(su.name+"/"+transport, func(t *testing.T) {
				cfg := testConfig(4, 4, time.Second)
				cfg.ClusterToken = su.token
				opts := []Option{WithSiblings(&fakeSiblings{Members: su.members}, nil)}
				var addr string
				if transport == "fast path" {
					addr = startFast(t, cfg, hostOf(app), opts...).addr
				} else {
					h, err := New(cfg, appProxy(t, hostOf(app)), prometheus.NewRegistry(), opts...)
					if err != nil {
						t.Fatal(err)
					}
					addr = serveEdge(t, h, nil)
				}
				view := func(extra map[string]string) (string, http.Header) {
					req, _ := http.NewRequest("GET", "http://"+addr+"/x", nil)
					req.Host = "front.example"
					for k, v := range extra {
						req.Header.Set(k, v)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return <-seen, resp.Header
				}
				plain, plainResp := view(nil)
				spoofed, spoofedResp := view(spoof)
				if spoofed != plain {
					t.Errorf("the app saw a spoofed hop differently:\n%s\nwant, as without the fields:\n%s", spoofed, plain)
				}
				if got, want := spoofedResp.Values(pool.LoadHeader), plainResp.Values(pool.LoadHeader); strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("X-Mitosis-Load to a spoofing client %q, want %q (the app's own)", got, want)
				}
			})
		}
	}
}

// TestSiblingAddrsFollowTheTable: the addresses hops are trusted from are
// those of the pool table's members, in any state, as the table changes.
func TestSiblingAddrsFollowTheTable(t *testing.T) {
	st := pool.NewStore()
	s := siblingAddrs{l: st}
	ip := netip.MustParseAddr("10.0.0.7")
	if s.has(ip) {
		t.Fatal("trusted with an empty table")
	}
	st.Upsert(pool.Member{Key: "10.0.0.7:9090", State: pool.StateJoining})
	if !s.has(ip) || !s.has(netip.MustParseAddr("::ffff:10.0.0.7")) {
		t.Fatal("a joining member's address is not trusted")
	}
	st.MarkDown("10.0.0.7:9090")
	if !s.has(ip) {
		t.Fatal("a down member's address is not trusted")
	}
	st.Delete("10.0.0.7:9090")
	if s.has(ip) {
		t.Fatal("a member that left is still trusted")
	}
	st.Upsert(pool.Member{Key: "web-2:9090", Addr: "10.0.0.8:8080", State: pool.StateReady})
	if !s.has(netip.MustParseAddr("10.0.0.8")) || s.has(netip.Addr{}) {
		t.Fatal("the public address of a member known by name is not trusted, or an invalid one is")
	}
}

// TestHopSourcesAreTrusted: a hop from an address WithHopSources names (a
// front of the tier, not a sibling) is trusted on both transports: the app
// sees the front's X-Forwarded-For and the answer carries X-Mitosis-Load;
// with a cluster token it must carry the token too; from an address the
// sources do not name it is a client request.
func TestHopSourcesAreTrusted(t *testing.T) {
	seen := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("X-Forwarded-For")
	}))
	t.Cleanup(app.Close)
	loopback := func(ip netip.Addr) bool { return ip.IsLoopback() }
	nowhere := func(netip.Addr) bool { return false }
	tests := []struct {
		name    string
		from    func(netip.Addr) bool
		token   string // the replica's cluster token
		send    string // the token the hop carries
		trusted bool
	}{
		{"a source", loopback, "", "", true},
		{"a source with the token", loopback, "secret", "secret", true},
		{"a source without the token", loopback, "secret", "", false},
		{"not a source", nowhere, "", "", false},
	}
	for _, tt := range tests {
		for _, transport := range []string{"fast path", "net/http"} {
			t.Run(tt.name+"/"+transport, func(t *testing.T) {
				cfg := testConfig(4, 4, time.Second)
				cfg.ClusterToken = tt.token
				// The pool has a sibling elsewhere: the loopback client is
				// no sibling of this replica.
				far := pool.Member{Key: "10.9.9.9:9090", ID: "far", Addr: "10.9.9.9:8080", State: pool.StateJoining}
				opts := []Option{WithSiblings(&fakeSiblings{Members: []pool.Member{far}}, nil), WithHopSources(tt.from)}
				h, err := New(cfg, appProxy(t, hostOf(app)), prometheus.NewRegistry(), opts...)
				if err != nil {
					t.Fatal(err)
				}
				var addr string
				if transport == "fast path" {
					addr = serveEdge(t, h, func(c *h1.Config) { c.Upstream = hostOf(app) })
				} else {
					addr = serveEdge(t, h, nil)
				}
				req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				req.Header.Set(HopHeader, "entry")
				req.Header.Set("X-Forwarded-For", "203.0.113.9")
				if tt.send != "" {
					req.Header.Set(TokenHeader, tt.send)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				xff, load := <-seen, resp.Header.Get(pool.LoadHeader)
				if trusted := xff == "203.0.113.9" && load != ""; trusted != tt.trusted {
					t.Fatalf("app saw X-Forwarded-For %q, answer X-Mitosis-Load %q: trusted %t, want %t", xff, load, trusted, tt.trusted)
				}
			})
		}
	}
}
