package replica

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// The addresses a name resolves to are trusted; a failed lookup keeps the
// last ones; a new answer replaces them.
func TestHopSources(t *testing.T) {
	answer := []netip.Addr{netip.MustParseAddr("10.0.1.5"), netip.MustParseAddr("::ffff:10.0.1.6")}
	var fail error
	s := &hopSources{name: "tasks.app_entry", lookup: func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host != "tasks.app_entry" {
			t.Errorf("looked up %q", host)
		}
		return answer, fail
	}}
	ip5, ip6, ip7 := netip.MustParseAddr("10.0.1.5"), netip.MustParseAddr("10.0.1.6"), netip.MustParseAddr("10.0.1.7")
	if s.has(ip5) {
		t.Fatal("trusted before any lookup")
	}
	if err := s.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.has(ip5) || !s.has(ip6) || !s.has(netip.MustParseAddr("::ffff:10.0.1.5")) || s.has(ip7) {
		t.Fatal("the resolved addresses (mapped or not) are not exactly the trusted ones")
	}
	fail = errors.New("no such host")
	if err := s.refresh(context.Background()); err == nil || !s.has(ip5) {
		t.Fatal("a failed lookup dropped the known addresses")
	}
	fail, answer = nil, []netip.Addr{ip7}
	if err := s.refresh(context.Background()); err != nil || s.has(ip5) || !s.has(ip7) {
		t.Fatal("a new answer did not replace the addresses")
	}
}
