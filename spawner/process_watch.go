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
	if every <= 0 {
		every = time.Second
	}
	gone := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if os.Getppid() != pid {
				close(gone)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return gone
}
