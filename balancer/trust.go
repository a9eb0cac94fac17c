package balancer

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/mitosis-run/mitosis/pool"
)

// memberLister is what hop trust needs of the pool, beyond siblings:
// every member (any state) and a channel closed at the next change of the
// table. *pool.Store has both.
type memberLister interface {
	List() []pool.Member
	Watch() <-chan struct{}
}

// siblingAddrs is the set of IP addresses of the members of the pool
// table: a hop is trusted only from one of them. The set is an immutable
// map swapped atomically; it is rebuilt, at the first look after the
// table changed, by the request that looks (only requests that carry a
// hop header look). Safe for concurrent use.
type siblingAddrs struct {
	l   memberLister // nil: no siblings, no address
	cur atomic.Pointer[addrSet]
	mu  sync.Mutex // one rebuild at a time
}

type addrSet struct {
	ips     map[netip.Addr]struct{}
	changed <-chan struct{} // closed once the table changed after the build
}

func (s *siblingAddrs) has(ip netip.Addr) bool {
	if s.l == nil || !ip.IsValid() {
		return false
	}
	set := s.cur.Load()
	if set == nil || closed(set.changed) {
		set = s.rebuild()
	}
	_, ok := set.ips[ip.Unmap().WithZone("")]
	return ok
}

func (s *siblingAddrs) rebuild() *addrSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.cur.Load(); set != nil && !closed(set.changed) {
		return set // another request rebuilt it
	}
	set := &addrSet{changed: s.l.Watch(), ips: map[netip.Addr]struct{}{}} // Watch before List: no change is missed
	for _, m := range s.l.List() {
		for _, hp := range [...]string{m.Key, m.AdminAddr, m.Addr} {
			if ip, ok := hostIP(hp); ok {
				set.ips[ip] = struct{}{}
			}
		}
	}
	s.cur.Store(set)
	return set
}

// hostIP is the IP address of a host:port; a host name is none (it is
// not resolved on the request path).
func hostIP(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
