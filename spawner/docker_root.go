package spawner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The lifecycle of a docker driver group: the root container owns its
// clones. No clone outlives its root for long:
//
//   - The root drains (SIGTERM: docker stop, docker restart): it calls
//     RetireClones at the start of its drain, so every clone gets SIGTERM
//     and its own drain timeout in parallel with the root's drain, and is
//     removed once stopped (AutoRemove, and an explicit remove).
//   - The root is killed (SIGKILL, OOM, a crash) and cannot say anything:
//     every clone watches its root (WatchRoot) and drains and exits once
//     the root has not been running for RootGrace (default 10 s). A root
//     brought back by its restart policy within the grace keeps them.
//   - A root that starts again adopts its own clones (a restart keeps the
//     container id, which the clones name in their mitosis.parent label:
//     Status counts them and the autoscaler sizes them), and Reconcile
//     retires leftovers of the group whose root is gone (a root removed and
//     created anew under the same name has a new id).

// errRetiring refuses new clones once the root retires its group.
var errRetiring = errors.New("spawner: docker: the root is retiring its clones")

// isRoot reports whether this replica is the root container (resolve
// first).
func (d *Docker) isRoot() bool {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	return d.root != "" && d.root == d.own
}

// RetireClones stops every clone of this root in parallel (SIGTERM, the
// clone's DrainTimeout, then SIGKILL) and removes it, and returns when
// all are gone or ctx ends. From then on Scale starts no clone. On a clone
// it does nothing: only the root retires the group.
func (d *Docker) RetireClones(ctx context.Context) error {
	if err := d.resolve(ctx); err != nil {
		return err
	}
	if !d.isRoot() {
		return nil
	}
	d.retiring.Store(true)
	cl, err := d.clones(ctx)
	if err != nil {
		return err
	}
	return d.retireAll(ctx, cl)
}

// retireAll retires the containers in parallel; each stop may take the
// whole DrainTimeout.
func (d *Docker) retireAll(ctx context.Context, list []containerInfo) error {
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Go(func() { errs[i] = d.retire(ctx, c.ID) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// running reports whether container id runs (or is being restarted by its
// restart policy, or is paused): a root in that state still owns its
// clones. A daemon that does not answer is an error, not a container that
// is gone.
func (d *Docker) running(ctx context.Context, id string) (bool, error) {
	c, err := d.api.inspectContainer(ctx, id)
	switch {
	case errors.Is(err, errNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return c.State == "running" || c.State == "restarting" || c.State == "paused", nil
}

// WatchRoot returns a channel that is closed once this clone's root
// container has not been running for RootGrace, checked every interval: the
// clone then drains and exits like on SIGTERM, and AutoRemove removes it.
// Inspect errors (a daemon that does not answer) neither start nor end the
// grace. On the root the channel never closes. When ctx ends, watching
// stops and the channel stays open.
func (d *Docker) WatchRoot(ctx context.Context, interval time.Duration) <-chan struct{} {
	w := rootWatch{d: d, grace: d.cfg.RootGrace}
	return watch(ctx, interval, func() (gone, stop bool) {
		v := w.check(ctx, time.Now())
		return v == rootGone, v == rootIsSelf
	})
}

type rootVerdict int

const (
	rootThere  rootVerdict = iota // running, or not gone for grace yet, or unknown
	rootGone                      // not running for grace
	rootIsSelf                    // this replica is the root: nothing to watch
)

// rootWatch is WatchRoot's state: since when the root is seen not running.
type rootWatch struct {
	d     *Docker
	grace time.Duration
	since time.Time // zero: running (or never seen)
}

func (w *rootWatch) check(ctx context.Context, now time.Time) rootVerdict {
	if w.d.resolve(ctx) != nil {
		return rootThere
	}
	if w.d.isRoot() {
		return rootIsSelf
	}
	run, err := w.d.running(ctx, w.d.root)
	switch {
	case err != nil:
	case run:
		w.since = time.Time{}
	case w.since.IsZero():
		w.since = now
	}
	if !w.since.IsZero() && now.Sub(w.since) >= w.grace {
		return rootGone
	}
	return rootThere
}

// Reconcile runs once when a root starts. It retires the group's
// leftovers: containers labelled with this group whose root is not
// running (clones of an earlier root of the same name, which had another
// container id). Clones that name this root (it was restarted: same id)
// are adopted as they are. It returns how many clones it adopted and how
// many leftovers it retired; on a clone it does nothing.
func (d *Docker) Reconcile(ctx context.Context) (adopted, retired int, err error) {
	if err := d.resolve(ctx); err != nil {
		return 0, 0, err
	}
	if !d.isRoot() {
		return 0, 0, nil
	}
	list, err := d.api.listContainers(ctx, map[string]string{LabelGroup: d.group})
	if err != nil {
		return 0, 0, fmt.Errorf("spawner: docker: list group %s: %w", d.group, err)
	}
	var leftovers []containerInfo
	roots := map[string]bool{} // root id → running
	for _, c := range list {
		parent := c.Labels[LabelParent]
		switch {
		case parent == "" || d.isSelf(c):
			continue // a root (ours or another's), not a clone
		case parent == d.root:
			if live(c) {
				adopted++
			}
			continue
		}
		run, seen := roots[parent]
		if !seen {
			if run, err = d.running(ctx, parent); err != nil {
				return adopted, 0, fmt.Errorf("spawner: docker: inspect root %s of %s: %w", parent, c.ID, err)
			}
			roots[parent] = run
		}
		if !run {
			leftovers = append(leftovers, c)
		}
	}
	if err := d.retireAll(ctx, leftovers); err != nil {
		return adopted, 0, fmt.Errorf("spawner: docker: retire leftovers of %s: %w", d.group, err)
	}
	return adopted, len(leftovers), nil
}
