package replica

import (
	"context"
	"errors"
	"time"

	"github.com/mitosis-run/mitosis/internal/app"
)

var errDrainTimeout = errors.New("drain timeout: requests were still in flight")

// Wait serves until ctx is done (the signal), the parent process or the
// app is gone, or a server fails; then it drains and returns the process
// exit status: 0 after a clean drain, 1 if requests were still in flight
// at the drain timeout (or a server failed), the app's status if it died.
//
// The drain: readiness fails and new work goes to siblings for DrainDelay,
// the listener stops accepting, in-flight and queued requests finish, the
// loops and the platform stop, the app child gets SIGTERM, and the admin
// server closes last.
func (r *Replica) Wait(ctx context.Context) int {
	var childDone <-chan struct{}
	if r.child != nil {
		childDone = r.child.Done()
	}
	select {
	case <-ctx.Done():
		r.log.Info("signal received: draining", "delay", r.cfg.DrainDelay, "timeout", r.cfg.DrainTimeout)
	case <-r.parent:
		r.log.Info("parent process gone: draining")
	case <-r.rootGone:
		r.log.Info("root container gone: draining")
	case <-childDone:
		r.log.Error("the app exited: stopping", "status", app.ExitText(r.child.Err()))
		r.cancel()
		if r.fast != nil {
			r.fast.Close()
		}
		r.pub.Close()
		if r.https != nil {
			r.https.close()
		}
		r.admin.Close()
		r.plat.close(context.Background())
		_ = r.closeFunctions(cancelled())
		return r.child.ExitCode()
	case err := <-r.serveErr:
		r.log.Error("server failed", "err", err)
		r.cancel()
		_ = r.closeFunctions(cancelled())
		return 1
	}
	return r.drain()
}

func (r *Replica) drain() int {
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	dctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	r.status.SetDraining()
	r.h.SetDraining()
	// The docker driver's root takes its clones with it; they drain
	// alongside it.
	clonesGone := r.plat.retireClones(dctx, r.log)
	// A second signal during the drain means: stop now.
	hurry, stopHurry := r.hurry()
	defer stopHurry()
	select {
	case <-time.After(r.cfg.DrainDelay):
	case <-hurry:
		r.log.Warn("second signal: exiting without draining")
		return 1
	}
	status := 0
	var httpsDone chan error
	if r.https != nil {
		httpsDone = make(chan error, 1)
		go func() { httpsDone <- r.https.drain(dctx) }()
	}
	r.pubLn.Quiesce()
	select {
	case <-r.pubLn.Done():
	case <-dctx.Done():
	}
	if err := r.conns.Wait(dctx); err != nil {
		r.log.Error("drain incomplete", "err", errDrainTimeout)
		status = 1
	}
	r.conns.CloseQuiet()
	var shutdown func(context.Context) error = r.pub.Shutdown
	r.pub.SetKeepAlivesEnabled(false) // closes the idle connections left
	if r.fast != nil {
		r.fast.SetKeepAlivesEnabled(false)
		shutdown = r.fast.Shutdown // and the fallback's
	}
	if err := shutdown(dctx); err != nil && status == 0 {
		r.log.Error("drain incomplete", "err", errDrainTimeout)
		status = 1
	}
	if httpsDone != nil {
		if err := <-httpsDone; err != nil && status == 0 {
			r.log.Error("drain incomplete (HTTPS)", "err", errDrainTimeout)
			status = 1
		}
	}
	// Function runs: sync ones ended with their requests; async ones may
	// finish until the deadline, then every run left is killed.
	if err := r.closeFunctions(dctx); err != nil {
		r.log.Error("drain incomplete", "err", err)
		status = 1
	}
	select {
	case <-clonesGone:
	case <-dctx.Done():
	}
	r.cancel()
	r.plat.close(dctx)
	if r.child != nil {
		r.child.Stop(max(time.Until(deadline), time.Second))
	}
	actx, acancel := context.WithTimeout(context.Background(), time.Second)
	defer acancel()
	_ = r.admin.Shutdown(actx)
	r.log.Info("drained", "status", status)
	return status
}

// abort undoes a Start that failed half-way: whatever was started stops.
func (r *Replica) abort() {
	r.cancel()
	if r.pubLn != nil {
		r.pubLn.Close()
	}
	if r.adminLn != nil {
		r.adminLn.Close()
	}
	if r.https != nil {
		r.https.close()
	}
	if r.plat != nil {
		r.plat.close(context.Background())
	}
	_ = r.closeFunctions(cancelled())
	if r.child != nil {
		r.child.Stop(time.Second)
	}
}

// closeFunctions drains the function set until ctx ends (then kills what
// still runs) and releases the engine it used.
func (r *Replica) closeFunctions(ctx context.Context) error {
	var err error
	if r.fns != nil {
		err = r.fns.Close(ctx)
	}
	for _, c := range r.closers {
		_ = c()
	}
	r.closers = nil
	return err
}

// cancelled is a context that is already done: stop at once.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
