package replica

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// hopSources are the addresses MITOSIS_HOPS_FROM resolves to: the tier's
// entries, which forward to this replica but are not its siblings, so the
// balancer trusts their hops too (balancer.WithHopSources). The name is
// resolved again every interval (entries come and go with the nodes); a
// failed lookup keeps the addresses known. Safe for concurrent use.
type hopSources struct {
	name   string
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
	cur    atomic.Pointer[map[netip.Addr]struct{}]
}

// has reports whether ip is one of the addresses last resolved.
func (s *hopSources) has(ip netip.Addr) bool {
	m := s.cur.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[ip.Unmap()]
	return ok
}

// refresh resolves the name once; on error the known addresses stay.
func (s *hopSources) refresh(ctx context.Context) error {
	ips, err := s.lookup(ctx, "ip", s.name)
	if err != nil {
		return err
	}
	m := make(map[netip.Addr]struct{}, len(ips))
	for _, ip := range ips {
		m[ip.Unmap()] = struct{}{}
	}
	s.cur.Store(&m)
	return nil
}

// hopSourcesPatience is how many lookups in a row must fail before it is
// logged: Docker's embedded DNS drops a lookup now and then, and the known
// addresses serve meanwhile.
const hopSourcesPatience = 5

// run refreshes now and every interval until ctx ends. A failure is
// logged once it has lasted hopSourcesPatience lookups, and its end too.
func (s *hopSources) run(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	fails := 0
	for {
		lctx, cancel := context.WithTimeout(ctx, every)
		err := s.refresh(lctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if fails++; fails == hopSourcesPatience {
				log.Warn("MITOSIS_HOPS_FROM: lookups fail; keeping the addresses known", "name", s.name, "err", err)
			}
		case err == nil:
			if fails >= hopSourcesPatience {
				log.Info("MITOSIS_HOPS_FROM: lookup works again", "name", s.name)
			}
			fails = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
