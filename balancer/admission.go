package balancer

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by admission when a request cannot get a slot.
var (
	// ErrQueueFull: every slot is taken and the queue holds QueueMax waiters.
	ErrQueueFull = errors.New("balancer: queue full")
	// ErrQueueTimeout: the request waited QueueTimeout without a slot.
	ErrQueueTimeout = errors.New("balancer: queue timeout")
	// errGone: the waiter's gone channel was closed (the client left).
	errGone = errors.New("balancer: client gone")
)

// admission limits how many requests are inside the app at once and keeps
// the rest in a bounded FIFO queue.
//
// The fast path (a free slot and nobody queued) is one compare-and-swap; the
// mutex is taken only to queue, to leave the queue, or to hand a freed slot
// to a waiter. A waiter that gives up (timeout, client gone) unlinks itself
// at once so its place is free for the next request.
type admission struct {
	max      int64
	queueMax int64

	inflight atomic.Int64
	queued   atomic.Int64

	mu   sync.Mutex
	head *waiter // oldest
	tail *waiter

	waiters sync.Pool
}

type waiter struct {
	ready      chan struct{} // buffered(1): a slot was handed over
	prev, next *waiter
	linked     bool
}

func newAdmission(max, queueMax int) *admission {
	a := &admission{max: int64(max), queueMax: int64(queueMax)}
	a.waiters.New = func() any { return &waiter{ready: make(chan struct{}, 1)} }
	return a
}

// tryAcquire takes a slot if one is free and nobody is queued ahead.
func (a *admission) tryAcquire() bool {
	if a.queued.Load() > 0 {
		return false
	}
	return a.casSlot()
}

func (a *admission) casSlot() bool {
	for {
		n := a.inflight.Load()
		if n >= a.max {
			return false
		}
		if a.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// acquire takes a slot, waiting in the queue for at most timeout or until
// gone is closed (the client left). It returns ErrQueueFull,
// ErrQueueTimeout or errGone when it did not get one; then nothing is
// held.
func (a *admission) acquire(gone <-chan struct{}, timeout time.Duration) error {
	if a.tryAcquire() {
		return nil
	}
	a.mu.Lock()
	if a.queued.Load() >= a.queueMax {
		a.mu.Unlock()
		// Last chance: a slot may have been freed while we looked.
		if a.casSlot() {
			return nil
		}
		return ErrQueueFull
	}
	w := a.waiters.Get().(*waiter)
	a.link(w)
	a.dispatchLocked()
	a.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		a.waiters.Put(w)
		return nil
	case <-timer.C:
		err = ErrQueueTimeout
	case <-gone:
		err = errGone
	}
	a.mu.Lock()
	if w.linked {
		a.unlink(w)
		a.mu.Unlock()
		a.waiters.Put(w)
		return err
	}
	a.mu.Unlock()
	// The slot was handed over while we gave up: take it and give it back.
	<-w.ready
	a.waiters.Put(w)
	a.release()
	return err
}

// release frees a slot and hands it to the oldest waiter, if any.
func (a *admission) release() {
	a.inflight.Add(-1)
	if a.queued.Load() == 0 {
		return
	}
	a.mu.Lock()
	a.dispatchLocked()
	a.mu.Unlock()
}

// dispatchLocked hands free slots to waiters in FIFO order.
func (a *admission) dispatchLocked() {
	for a.head != nil && a.casSlot() {
		w := a.head
		a.unlink(w)
		w.ready <- struct{}{}
	}
}

func (a *admission) link(w *waiter) {
	w.prev, w.next, w.linked = a.tail, nil, true
	if a.tail != nil {
		a.tail.next = w
	} else {
		a.head = w
	}
	a.tail = w
	a.queued.Add(1)
}

func (a *admission) unlink(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		a.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		a.tail = w.prev
	}
	w.prev, w.next, w.linked = nil, nil, false
	a.queued.Add(-1)
}

// hasRoom reports whether a request arriving now would get a slot at once.
func (a *admission) hasRoom() bool {
	return a.queued.Load() == 0 && a.inflight.Load() < a.max
}
