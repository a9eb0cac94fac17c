package functions

import (
	"context"
	"sync/atomic"
	"time"
)

// limiter bounds the runs of one function: slots is a semaphore of
// Concurrency places; a call that finds none free waits, at most QueueMax
// of them at once and each at most its wait. Go hands a freed buffer place
// to the longest-waiting sender, so the queue is FIFO.
//
// The request path has its own admission in the balancer (a lock-free
// fast path tuned for every request); function runs cost a process or a
// container each, so a plain channel is enough here.
type limiter struct {
	slots    chan struct{}
	queueMax int64
	queued   atomic.Int64 // calls waiting for a slot now
	waiting  atomic.Int64 // async runs waiting for a slot now (bounded by AsyncMax elsewhere)
}

func newLimiter(concurrency, queueMax int) *limiter {
	return &limiter{slots: make(chan struct{}, concurrency), queueMax: int64(queueMax)}
}

// acquire takes a slot for a call, waiting at most wait with a place in
// the queue. It returns ErrBusy when the queue is full, ErrQueueTimeout
// after wait, or ctx's cause; then nothing is held.
func (l *limiter) acquire(ctx context.Context, wait time.Duration) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if l.queued.Add(1) > l.queueMax {
		l.queued.Add(-1)
		return ErrBusy
	}
	defer l.queued.Add(-1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return l.check(ctx)
	case <-t.C:
		return ErrQueueTimeout
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// check gives back a slot taken while ctx ended (select picks at random
// among ready cases): a call cut by the drain must not start a run.
func (l *limiter) check(ctx context.Context) error {
	if ctx.Err() != nil {
		l.release()
		return context.Cause(ctx)
	}
	return nil
}

// await takes a slot for an async run, waiting as long as ctx lasts; it
// returns ctx's cause if ctx ends first.
func (l *limiter) await(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return l.check(ctx)
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (l *limiter) release() { <-l.slots }

func (l *limiter) inflight() int { return len(l.slots) }
