package balancer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
)

func TestAdmissionFastPathAndLimit(t *testing.T) {
	a := newAdmission(2, 0)
	for i := 0; i < 2; i++ {
		if !a.tryAcquire() {
			t.Fatalf("slot %d of 2 not free", i+1)
		}
	}
	if a.tryAcquire() {
		t.Fatal("third acquire succeeded with max 2")
	}
	if err := a.acquire(context.Background().Done(), time.Second); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("acquire with QueueMax 0 = %v, want ErrQueueFull", err)
	}
	a.release()
	if !a.tryAcquire() {
		t.Fatal("released slot not reusable")
	}
}

func TestAdmissionQueueFIFO(t *testing.T) {
	a := newAdmission(1, 10)
	if !a.tryAcquire() {
		t.Fatal("first slot")
	}
	const n = 5
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := a.acquire(context.Background().Done(), 5*time.Second); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			order <- i
			a.release()
		}(i)
		// Wait until waiter i is queued so the arrival order is known.
		waitFor(t, func() bool { return a.queued.Load() == int64(i+1) })
	}
	a.release()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("served waiter %d, want %d (FIFO)", got, want)
		}
		want++
	}
	if a.inflight.Load() != 0 || a.queued.Load() != 0 {
		t.Fatalf("left inflight=%d queued=%d", a.inflight.Load(), a.queued.Load())
	}
}

func TestAdmissionTimeoutAndFull(t *testing.T) {
	a := newAdmission(1, 1)
	a.tryAcquire()
	done := make(chan error, 1)
	go func() { done <- a.acquire(context.Background().Done(), 30*time.Millisecond) }()
	waitFor(t, func() bool { return a.queued.Load() == 1 })
	if err := a.acquire(context.Background().Done(), time.Second); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("second waiter with QueueMax 1 = %v, want ErrQueueFull", err)
	}
	if err := <-done; !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("waiter = %v, want ErrQueueTimeout", err)
	}
	if a.queued.Load() != 0 {
		t.Fatalf("timed-out waiter still queued")
	}
}

func TestAdmissionCancelFreesPlaceAtOnce(t *testing.T) {
	a := newAdmission(1, 1)
	a.tryAcquire()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.acquire(ctx.Done(), time.Hour) }()
	waitFor(t, func() bool { return a.queued.Load() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, errGone) {
		t.Fatalf("cancelled waiter = %v", err)
	}
	// Its place is free: a new waiter fits in the queue of one.
	go func() { done <- a.acquire(context.Background().Done(), time.Second) }()
	waitFor(t, func() bool { return a.queued.Load() == 1 })
	a.release()
	if err := <-done; err != nil {
		t.Fatalf("new waiter after cancel: %v", err)
	}
}

// TestAdmissionStress checks the invariant under contention: never more
// than max inside, and every slot comes back.
func TestAdmissionStress(t *testing.T) {
	const max = 3
	a := newAdmission(max, 1000)
	var inside, peak int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				ctx := context.Background()
				var cancel context.CancelFunc = func() {}
				if (i+j)%7 == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Microsecond)
				}
				err := a.acquire(ctx.Done(), time.Second)
				cancel()
				if err != nil {
					continue
				}
				mu.Lock()
				inside++
				if inside > peak {
					peak = inside
				}
				mu.Unlock()
				mu.Lock()
				inside--
				mu.Unlock()
				a.release()
			}
		}(i)
	}
	wg.Wait()
	if peak > max {
		t.Fatalf("peak %d requests inside, max %d", peak, max)
	}
	if a.inflight.Load() != 0 || a.queued.Load() != 0 {
		t.Fatalf("leaked: inflight=%d queued=%d", a.inflight.Load(), a.queued.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if !wait.Until(5*time.Second, time.Millisecond, cond) {
		t.Fatal("condition not reached in 5s")
	}
}
