package spawner

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// The root retires its clones (SIGTERM with their drain timeout, then
// remove), not another root's, and starts no clone afterwards; a clone
// asked to do the same does nothing.
func TestDockerRetireClones(t *testing.T) {
	f := dockerFake(t)
	c1, c2, c3 := clone(f, 1, "running"), clone(f, 2, "running"), clone(f, 3, "created")
	f.addContainer(&fakeContainer{ID: "otherroot", Name: "web2", State: "running"})
	other := "c99" + rootID[3:]
	f.addContainer(&fakeContainer{ID: other, Name: "x", State: "running",
		Config: configWithLabels(map[string]string{LabelParent: "otherroot", LabelGroup: "web"})})

	if err := newTestDocker(t, f, c1[:12]).RetireClones(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.Stops) != 0 {
		t.Fatalf("a clone retired %v: only the root retires the group", f.Stops)
	}

	d := newTestDocker(t, f, rootID[:12])
	if err := d.RetireClones(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{c1, c2, c3} {
		if _, ok := f.Containers[id]; ok {
			t.Errorf("clone %.5s still there", id)
		}
		if f.Stops[id] != "3" {
			t.Errorf("clone %.5s stopped with t=%q, want the drain timeout 3", id, f.Stops[id])
		}
	}
	for _, id := range []string{rootID, other} {
		if _, ok := f.Containers[id]; !ok {
			t.Errorf("container %.5s was removed", id)
		}
	}
	calls := f.calls()
	if stop, del := slices.Index(calls, "POST /containers/"+c1+"/stop"), slices.Index(calls, "DELETE /containers/"+c1); stop < 0 || del < stop {
		t.Errorf("want stop then delete of %.5s, calls %v", c1, calls)
	}
	if err := d.Scale(context.Background(), 3, 0); !errors.Is(err, errRetiring) {
		t.Fatalf("Scale after RetireClones: err = %v, want errRetiring", err)
	}
	if n := len(f.created); n != 0 {
		t.Fatalf("%d clones created after RetireClones", n)
	}
}

// The watch of a clone: the root gone for the grace ends it; running
// again within the grace, restarting or paused keeps it; a daemon that
// does not answer neither starts nor ends the grace; on the root there is
// nothing to watch.
func TestDockerRootWatch(t *testing.T) {
	const grace = 10 * time.Second
	type step struct {
		at    time.Duration // since the start
		state string        // the root's state; "gone": removed; "error": inspection fails
		want  rootVerdict
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"killed", []step{{0, "running", rootThere}, {1 * time.Second, "exited", rootThere}, {10 * time.Second, "exited", rootThere}, {11 * time.Second, "exited", rootGone}}},
		{"removed", []step{{0, "gone", rootThere}, {10 * time.Second, "gone", rootGone}}},
		{"restarted within the grace", []step{{0, "exited", rootThere}, {5 * time.Second, "restarting", rootThere}, {9 * time.Second, "running", rootThere},
			{12 * time.Second, "running", rootThere}, {13 * time.Second, "exited", rootThere}, {22 * time.Second, "exited", rootThere}, {23 * time.Second, "exited", rootGone}}},
		{"paused", []step{{0, "paused", rootThere}, {time.Minute, "paused", rootThere}}},
		{"daemon in trouble", []step{{0, "error", rootThere}, {time.Minute, "error", rootThere}, {61 * time.Second, "exited", rootThere}}},
		{"daemon in trouble after the root died", []step{{0, "exited", rootThere}, {5 * time.Second, "error", rootThere}, {10 * time.Second, "error", rootGone}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := dockerFake(t)
			self := clone(f, 1, "running")
			d := newTestDocker(t, f, self[:12])
			root := f.Containers[rootID]
			w := rootWatch{d: d, grace: grace}
			for _, s := range tt.steps {
				f.mu.Lock()
				f.InspectError = ""
				switch s.state {
				case "gone":
					delete(f.Containers, rootID)
				case "error":
					f.InspectError = "Internal Server Error"
				default:
					root.State = s.state
					f.Containers[rootID] = root
				}
				f.mu.Unlock()
				if got := w.check(context.Background(), t0.Add(s.at)); got != s.want {
					t.Fatalf("at +%s with the root %s: verdict %d, want %d", s.at, s.state, got, s.want)
				}
			}
		})
	}
	f := dockerFake(t)
	w := rootWatch{d: newTestDocker(t, f, rootID[:12]), grace: grace}
	if got := w.check(context.Background(), t0); got != rootIsSelf {
		t.Fatalf("on the root: verdict %d, want rootIsSelf", got)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// WatchRoot closes its channel once the root is gone for the grace.
func TestDockerWatchRootCloses(t *testing.T) {
	f := dockerFake(t)
	self := clone(f, 1, "running")
	cfg := DefaultDockerConfig()
	cfg.RootGrace = time.Second // the shortest allowed
	d, err := NewDocker(f.engine(t, self[:12]), cfg)
	if err != nil {
		t.Fatal(err)
	}
	gone := d.WatchRoot(t.Context(), 5*time.Millisecond)
	f.mu.Lock()
	f.Containers[rootID].State = "exited"
	f.mu.Unlock()
	killed := time.Now()
	select {
	case <-gone:
		if waited := time.Since(killed); waited < cfg.RootGrace {
			t.Fatalf("closed %s after the root stopped, before the %s grace", waited, cfg.RootGrace)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not notice the root was gone")
	}
}

// A root that starts again adopts its own clones and retires leftovers of
// an earlier root of the same group; another live root's clones stay.
func TestDockerReconcile(t *testing.T) {
	f := dockerFake(t)
	mine := clone(f, 1, "running")
	label := func(parent string) map[string]string {
		return map[string]string{LabelParent: parent, LabelGroup: "web"}
	}
	old1, old2 := "0ld1"+rootID[4:], "0ld2"+rootID[4:]
	f.addContainer(&fakeContainer{ID: old1, Name: "o1", State: "running", Config: configWithLabels(label("removedroot"))})
	f.addContainer(&fakeContainer{ID: old2, Name: "o2", State: "running", Config: configWithLabels(label("stoppedroot"))})
	f.addContainer(&fakeContainer{ID: "stoppedroot", Name: "web-old", State: "exited"})
	f.addContainer(&fakeContainer{ID: "liveroot", Name: "web-b", State: "running"})
	theirs := "7he1" + rootID[4:]
	f.addContainer(&fakeContainer{ID: theirs, Name: "t", State: "running", Config: configWithLabels(label("liveroot"))})

	if a, r, err := newTestDocker(t, f, mine[:12]).Reconcile(context.Background()); a != 0 || r != 0 || err != nil {
		t.Fatalf("Reconcile on a clone = %d, %d, %v; want nothing done", a, r, err)
	}
	adopted, retired, err := newTestDocker(t, f, rootID[:12]).Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if adopted != 1 || retired != 2 {
		t.Fatalf("adopted %d retired %d, want 1 and 2", adopted, retired)
	}
	for id, want := range map[string]bool{mine: true, old1: false, old2: false, theirs: true, rootID: true} {
		if _, ok := f.Containers[id]; ok != want {
			t.Errorf("container %.5s present = %t, want %t", id, ok, want)
		}
	}
	if f.Stops[old1] != "3" {
		t.Errorf("leftover stopped with t=%q, want its drain timeout 3", f.Stops[old1])
	}
}
