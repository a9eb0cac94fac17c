package autoscale

import (
	"testing"
	"time"
)

// TestScaleDownTime walks the decider through a load that ends after ten
// minutes at 10 replicas and measures how long it takes to give them all
// back, for the settings README quotes (go test -v -run ScaleDownTime
// ./autoscale/ prints them). The decision alone takes about
// SCALE_DOWN_DELAY + STABLE_WINDOW: the highest desire of the delay wins,
// and the desires recorded while the stable average decayed over its
// window are the last to age out; then halving per tick is a few ticks.
// The retired replicas' drain comes on top (up to MITOSIS_DRAIN_TIMEOUT).
func TestScaleDownTime(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"defaults", func(*Config) {}},
		// stack.yml: MIN 2, STABLE_WINDOW 60s, SCALE_DOWN_DELAY 5m, TICK 2s.
		{"stack.yml", func(c *Config) {
			c.MinReplicas, c.StableWindow, c.ScaleDownDelay = 2, 60*time.Second, 5*time.Minute
		}},
		// the e2e override: TICK 1s, STABLE_WINDOW 10s, SCALE_DOWN_DELAY 10s.
		{"e2e", func(c *Config) {
			c.MinReplicas, c.Tick, c.StableWindow, c.PanicWindow, c.ScaleDownDelay = 2, time.Second, 10*time.Second, 2*time.Second, 10*time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			w := newWalker(cfg, 10)
			for w.now.Sub(t0) < 10*time.Minute {
				w.tick(Sample{Concurrency: 70, Ready: w.cur}) // 70 / 7 → 10
			}
			if w.cur != 10 {
				t.Fatalf("under load: %d replicas, want 10", w.cur)
			}
			end := w.now
			var first time.Duration
			for w.cur > cfg.MinReplicas {
				before := w.cur
				w.tick(Sample{Ready: w.cur})
				if first == 0 && w.cur < before {
					first = w.now.Sub(end)
				}
				if w.now.Sub(end) > time.Hour {
					t.Fatalf("not back to %d within an hour", cfg.MinReplicas)
				}
			}
			took := w.now.Sub(end)
			// The formula README gives: delay + window, then halving steps.
			lo, hi := cfg.ScaleDownDelay, cfg.ScaleDownDelay+cfg.StableWindow+5*cfg.Tick
			if took < lo || took > hi {
				t.Errorf("back to %d after %s, want within [%s; %s]", cfg.MinReplicas, took, lo, hi)
			}
			t.Logf("%s: first replica given back %s after the load ended, back to %d after %s (SCALE_DOWN_DELAY %s + STABLE_WINDOW %s + halving per %s tick)",
				tt.name, first, cfg.MinReplicas, took, cfg.ScaleDownDelay, cfg.StableWindow, cfg.Tick)
		})
	}
}
