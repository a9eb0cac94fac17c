package spawner

import (
	"context"
	"os"
	"time"
)

// WatchParent returns a channel that is closed once this process's parent
// is no longer pid (it died and this process was re-parented), checked now
// and every interval (a non-positive every means 1s). A child started by the
// process driver calls it with MITOSIS_PARENT_PID and then drains and exits:
// the fallback for platforms without Linux's parent-death signal. When ctx
// ends first, watching stops and the channel stays open.
func WatchParent(ctx context.Context, pid int, every time.Duration) <-chan struct{} {
	return watch(ctx, every, func() (gone, stop bool) { return os.Getppid() != pid, false })
}

// watch calls check now and every interval (non-positive: 1s) until it
// reports gone, which closes the returned channel, or stop, which ends
// watching with the channel left open, or until ctx ends.
func watch(ctx context.Context, every time.Duration, check func() (gone, stop bool)) <-chan struct{} {
	if every <= 0 {
		every = time.Second
	}
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			gone, stop := check()
			if gone {
				close(ch)
			}
			if gone || stop {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return ch
}
