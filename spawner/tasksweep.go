package spawner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// sweepGrace is how long past its deadline a task of the group may still
// exist before Sweep takes it for a leftover: its starter kills it at the
// deadline and removes it right after, so a minute covers a slow daemon
// and clock skew between nodes.
const sweepGrace = time.Minute

// Sweep removes task containers left behind: every task of this replica
// (TaskConfig.Owner) but those of its runs in progress (a replica that
// restarts under the same id, a removal that failed), and every task of
// its group (TaskConfig.Group) past its deadline by more than a minute,
// whoever started it (a sibling that died). Tasks of live siblings are
// never touched: they are within their deadline. It returns how many
// containers it removed. Call it when a replica starts, and now and then.
func (t *Tasks) Sweep(ctx context.Context) (int, error) {
	if t.cfg.Owner == "" && t.cfg.Group == "" {
		return 0, errors.New("spawner: sweep: no owner or group to sweep for")
	}
	seen := map[string]bool{}
	var list []containerInfo
	for _, f := range []map[string]string{{LabelTaskOwner: t.cfg.Owner}, {LabelTaskGroup: t.cfg.Group}} {
		for k, v := range f {
			if v == "" {
				continue
			}
			l, err := t.api.listContainers(ctx, map[string]string{LabelTask: "1", k: v})
			if err != nil {
				return 0, fmt.Errorf("spawner: sweep: %w", err)
			}
			for _, c := range l {
				if !seen[c.ID] {
					seen[c.ID] = true
					list = append(list, c)
				}
			}
		}
	}
	now := t.now()
	removed := 0
	var errs []error
	for _, c := range list {
		own := t.cfg.Owner != "" && c.Labels[LabelTaskOwner] == t.cfg.Owner
		if own && t.ownBusy(c.ID) || !leftover(c.Labels, t.cfg.Owner, now) {
			continue
		}
		if err := t.api.removeContainer(ctx, c.ID); err != nil && !errors.Is(err, errNotFound) {
			errs = append(errs, fmt.Errorf("remove task %s: %w", c.ID, err))
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("spawner: sweep: %w", err)
	}
	return removed, nil
}

// leftover decides whether a task container is left behind: it is the
// owner's own (a replica starts with none running), or it is past its
// deadline plus the grace, or it carries no readable deadline (nobody
// bounds it).
func leftover(labels map[string]string, owner string, now time.Time) bool {
	if owner != "" && labels[LabelTaskOwner] == owner {
		return true
	}
	d, err := strconv.ParseInt(labels[LabelTaskDeadline], 10, 64)
	if err != nil {
		return true
	}
	return now.After(time.Unix(d, 0).Add(sweepGrace))
}
