package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mitosis-run/mitosis/spawner"
)

// caller is who the guard takes a connection for: a running task of a
// labelled service.
type caller struct {
	Addr      netip.Addr
	Service   string // name
	ServiceID string
	Task      string // task name (<service>.<slot>.<id>)
}

// taskSource lists the running tasks of the services carrying a label
// (*spawner.Services).
type taskSource interface {
	Labelled(ctx context.Context, label string) ([]spawner.ServiceTask, error)
}

// errUnknownCaller: the address is no running task of a labelled service
// (or is claimed by two of them).
var errUnknownCaller = errors.New("the source address is not a task of a service labelled for the guard")

// callerMap is the map from task addresses to callers, built from the
// platform and trusted for ttl. An address it does not know refreshes it
// at once, but at most once per every: a stranger knocking cannot make
// the guard list tasks more often than that. Concurrent refreshes are
// one call. Safe for concurrent use.
type callerMap struct {
	src   taskSource
	label string
	ttl   time.Duration
	every time.Duration
	now   func() time.Time
	sf    singleflight.Group

	mu      sync.Mutex
	byAddr  map[netip.Addr]caller
	at      time.Time // last successful refresh
	tried   time.Time // last refresh attempt
	lastErr error     // of the last attempt
	onFetch func(err error)
}

func newCallerMap(src taskSource, label string, ttl, every time.Duration, now func() time.Time, onFetch func(error)) *callerMap {
	if onFetch == nil {
		onFetch = func(error) {}
	}
	return &callerMap{src: src, label: label, ttl: ttl, every: every, now: now, onFetch: onFetch}
}

// lookup returns the caller at addr. An error that is not
// errUnknownCaller means the map could not be loaded (the daemon failed).
func (m *callerMap) lookup(ctx context.Context, addr netip.Addr) (caller, error) {
	addr = addr.Unmap()
	m.mu.Lock()
	c, hit := m.byAddr[addr]
	fresh := !m.at.IsZero() && m.now().Sub(m.at) < m.ttl
	mayRefresh := m.tried.IsZero() || m.now().Sub(m.tried) >= m.every
	lastErr := m.lastErr
	m.mu.Unlock()
	if hit && fresh {
		return c, nil
	}
	if !mayRefresh {
		if !fresh && lastErr != nil {
			return caller{}, lastErr
		}
		if hit {
			return c, nil
		}
		return caller{}, errUnknownCaller
	}
	// One refresh for all who wait; it must not die with the first
	// caller's request.
	_, err, _ := m.sf.Do("refresh", func() (any, error) {
		return nil, m.refresh(context.WithoutCancel(ctx))
	})
	if err != nil {
		return caller{}, err
	}
	m.mu.Lock()
	c, hit = m.byAddr[addr]
	m.mu.Unlock()
	if !hit {
		return caller{}, errUnknownCaller
	}
	return c, nil
}

func (m *callerMap) refresh(ctx context.Context) error {
	m.mu.Lock()
	if !m.tried.IsZero() && m.now().Sub(m.tried) < m.every {
		err := m.lastErr // refreshed meanwhile by another caller
		m.mu.Unlock()
		return err
	}
	m.tried = m.now()
	m.mu.Unlock()

	tasks, err := m.src.Labelled(ctx, m.label)
	m.onFetch(err)
	if err != nil {
		err = fmt.Errorf("list the callers' tasks: %w", err)
		m.mu.Lock()
		m.lastErr = err
		m.mu.Unlock()
		return err
	}
	next := make(map[netip.Addr]caller, len(tasks))
	ambiguous := map[netip.Addr]bool{}
	for _, t := range tasks {
		for _, ip := range t.Addrs {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				continue
			}
			a = a.Unmap()
			if prev, ok := next[a]; ok && prev.ServiceID != t.ServiceID {
				// Two services claim one address (overlapping subnets on
				// different networks): trust neither.
				ambiguous[a] = true
			}
			next[a] = caller{Addr: a, Service: t.ServiceName, ServiceID: t.ServiceID, Task: t.Name}
		}
	}
	for a := range ambiguous {
		delete(next, a)
	}
	m.mu.Lock()
	m.byAddr, m.at, m.lastErr = next, m.now(), nil
	m.mu.Unlock()
	return nil
}
