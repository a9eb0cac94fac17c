package h1

import "time"

// maxSiblingPools bounds the keep-alive pools to siblings. A pool unused
// for upstreamIdleTimeout (its connections have expired: the sibling
// probably left) is dropped when another is created, and at the bound the
// least recently used one goes.
const maxSiblingPools = 64

type siblingPool struct {
	p        *upstreamPool
	lastUsed time.Time
}

// siblingPool returns the pool of keep-alive connections to addr.
func (s *Server) siblingPool(addr string, now time.Time) *upstreamPool {
	s.sibMu.Lock()
	if sp, ok := s.sibs[addr]; ok {
		sp.lastUsed = now
		s.sibMu.Unlock()
		return sp.p
	}
	var drop []*upstreamPool
	var oldest string
	for a, sp := range s.sibs {
		if now.Sub(sp.lastUsed) >= upstreamIdleTimeout {
			drop = append(drop, sp.p)
			delete(s.sibs, a)
		} else if oldest == "" || sp.lastUsed.Before(s.sibs[oldest].lastUsed) {
			oldest = a
		}
	}
	if len(s.sibs) >= maxSiblingPools {
		drop = append(drop, s.sibs[oldest].p)
		delete(s.sibs, oldest)
	}
	p := newUpstreamPool(addr, s.cfg.DialTimeout, s.cfg.MaxIdlePerSibling, s.wc)
	if s.sibsClosed {
		p.closed = true
	}
	s.sibs[addr] = &siblingPool{p: p, lastUsed: now}
	s.sibMu.Unlock()
	for _, d := range drop {
		// Connections in use are closed when put back.
		d.closeAll(true)
	}
	return p
}

// closeSiblings closes every sibling pool; final as for upstreamPool.
func (s *Server) closeSiblings(final bool) {
	s.sibMu.Lock()
	pools := make([]*upstreamPool, 0, len(s.sibs))
	for _, sp := range s.sibs {
		pools = append(pools, sp.p)
	}
	if final {
		s.sibsClosed = true
	}
	s.sibMu.Unlock()
	for _, p := range pools {
		p.closeAll(final)
	}
}
