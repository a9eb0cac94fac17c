package pool

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedDiscovery returns the next scripted answer on each call (the last
// one repeats).
type scriptedDiscovery struct {
	mu    sync.Mutex
	steps []step
	calls int
}

type step struct {
	targets []Target
	err     error
}

func (d *scriptedDiscovery) Discover(ctx context.Context) ([]Target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.steps[min(d.calls, len(d.steps)-1)]
	d.calls++
	return s.targets, s.err
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSyncOnce(t *testing.T) {
	a := Target{AdminAddr: "10.0.0.1:9090", Source: SourceDNS}
	b := Target{AdminAddr: "10.0.0.2:9090", Source: SourceDNS}
	self := Target{AdminAddr: "10.0.0.9:9090", Source: SourceDNS}
	errDNS := errors.New("dns down")
	errOther := errors.New("timeout")
	d := &scriptedDiscovery{steps: []step{
		{targets: []Target{a, b, self}},
		{err: errDNS},
		{err: errDNS},
		{err: errOther},
		{err: errOther},
		{targets: []Target{b}},
	}}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	store := NewStore()
	cfg := DefaultSyncConfig()
	cfg.SelfAdmin = []string{self.AdminAddr}
	cfg.Seed = 1
	s := NewSyncer(store, d, cfg, log, func() time.Time { return t0 })

	wantKeys := [][]string{
		{a.AdminAddr, b.AdminAddr}, // self excluded
		{a.AdminAddr, b.AdminAddr}, // error: table kept
		{a.AdminAddr, b.AdminAddr},
		{a.AdminAddr, b.AdminAddr},
		{a.AdminAddr, b.AdminAddr},
		{b.AdminAddr}, // a left discovery: it leaves the table
	}
	for i, want := range wantKeys {
		err := s.SyncOnce(context.Background())
		if (err != nil) != (d.steps[i].err != nil) {
			t.Fatalf("round %d: err = %v, want %v", i, err, d.steps[i].err)
		}
		if got := keys(store.List()); !slices.Equal(got, want) {
			t.Fatalf("round %d: keys = %v, want %v", i, got, want)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "discovery failed"); n != 2 {
		t.Errorf("logged %d discovery failures for 4 failed rounds with 2 distinct errors, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, "discovery recovered"); n != 1 {
		t.Errorf("logged recovery %d times, want 1:\n%s", n, out)
	}
	if m, _ := store.Get(b.AdminAddr); m.State != StateJoining || m.Source != SourceDNS || !m.Updated.Equal(t0) {
		t.Errorf("discovered member = %+v", m)
	}
}

func TestSyncerRun(t *testing.T) {
	d := &scriptedDiscovery{steps: []step{
		{targets: []Target{{AdminAddr: "a:1"}}},
		{targets: []Target{{AdminAddr: "a:1"}, {AdminAddr: "b:1"}}},
	}}
	store := NewStore()
	s := NewSyncer(store, d, SyncConfig{Interval: 10 * time.Millisecond, Seed: 7}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	deadline := time.After(5 * time.Second)
	for len(store.List()) < 2 {
		select {
		case <-store.Watch():
		case <-deadline:
			t.Fatal("Run did not pick up the second discovery round")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestJitter(t *testing.T) {
	for _, u := range []float64{0, 0.25, 0.5, 0.999} {
		got := Jitter(time.Second, 0.1, u)
		if got < 900*time.Millisecond || got > 1100*time.Millisecond {
			t.Errorf("Jitter(1s, 10%%, %v) = %s, outside ±10%%", u, got)
		}
	}
	if got := Jitter(time.Second, 0.1, 0.5); got != time.Second {
		t.Errorf("Jitter at the midpoint = %s, want 1s", got)
	}
	// The syncer's delays are spread, not constant.
	s := NewSyncer(NewStore(), DiscoveryFunc(nil), SyncConfig{Interval: time.Second, Seed: 3}, nil, nil)
	seen := map[time.Duration]bool{}
	for range 20 {
		dl := s.nextDelay()
		if dl < 900*time.Millisecond || dl > 1100*time.Millisecond {
			t.Fatalf("delay %s outside ±10%%", dl)
		}
		seen[dl] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 20 draws", len(seen))
	}
}

func TestSyncConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SyncConfig
		errPart string
	}{
		{"default", DefaultSyncConfig(), ""},
		{"too fast", SyncConfig{Interval: time.Millisecond}, "MITOSIS_SYNC_INTERVAL = 1ms, must be in [10ms; 10m]"},
		{"too slow", SyncConfig{Interval: time.Hour}, "MITOSIS_SYNC_INTERVAL = 1h0m0s"},
		{"negative timeout", SyncConfig{Interval: time.Second, Timeout: -1}, "discovery timeout"},
		{"bad self", SyncConfig{Interval: time.Second, SelfAdmin: []string{"me"}}, `own admin address "me"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.errPart == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("Validate = %v, want %q", err, tt.errPart)
			}
		})
	}
}
