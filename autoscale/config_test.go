package autoscale

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings, one per expected error; none = valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"min equals max", func(c *Config) { c.MinReplicas, c.MaxReplicas = 3, 3 }, nil},
		{"min 0", func(c *Config) { c.MinReplicas = 0 }, []string{"MITOSIS_MIN_REPLICAS=0: must be in [1; 10000]"}},
		{"max 0", func(c *Config) { c.MaxReplicas = 0 }, []string{"MITOSIS_MAX_REPLICAS=0: must be >= MITOSIS_MIN_REPLICAS (1)"}},
		{"max below min", func(c *Config) { c.MinReplicas, c.MaxReplicas = 5, 4 }, []string{"MITOSIS_MAX_REPLICAS=4: must be >= MITOSIS_MIN_REPLICAS (5)"}},
		{"target 0", func(c *Config) { c.TargetConcurrency = 0 }, []string{"MITOSIS_TARGET_CONCURRENCY=0: must be in (0; 1000000]"}},
		{"target NaN", func(c *Config) { c.TargetConcurrency = math.NaN() }, []string{"MITOSIS_TARGET_CONCURRENCY=NaN"}},
		{"utilisation 1.5", func(c *Config) { c.TargetUtilization = 1.5 }, []string{"MITOSIS_TARGET_UTILIZATION=1.5: must be in (0; 1]"}},
		{"utilisation 1", func(c *Config) { c.TargetUtilization = 1 }, nil},
		{"slo negative", func(c *Config) { c.LatencySLO = -time.Second }, []string{"MITOSIS_LATENCY_SLO=-1s: must be in [0s; 1h]"}},
		{"slo off", func(c *Config) { c.LatencySLO = 0 }, nil},
		{"tick tiny", func(c *Config) { c.Tick = time.Millisecond }, []string{"MITOSIS_TICK=1ms: must be in [100ms; 1m0s]"}},
		{"stable below tick", func(c *Config) { c.StableWindow, c.PanicWindow = time.Second, time.Second },
			[]string{"MITOSIS_STABLE_WINDOW=1s: must be in [MITOSIS_TICK (2s); 1h]", "MITOSIS_PANIC_WINDOW=1s"}},
		{"panic above stable", func(c *Config) { c.PanicWindow = time.Minute },
			[]string{"MITOSIS_PANIC_WINDOW=1m0s: must be in [MITOSIS_TICK (2s); MITOSIS_STABLE_WINDOW (30s)]"}},
		{"panic threshold 1", func(c *Config) { c.PanicThreshold = 1 }, []string{"MITOSIS_PANIC_THRESHOLD=1: must be in (1; 100]"}},
		{"up rate 1", func(c *Config) { c.ScaleUpRate = 1 }, []string{"MITOSIS_SCALE_UP_RATE=1: must be in (1; 1000]"}},
		{"down rate 0.5", func(c *Config) { c.ScaleDownRate = 0.5 }, []string{"MITOSIS_SCALE_DOWN_RATE=0.5: must be in (1; 1000]"}},
		{"delay negative", func(c *Config) { c.ScaleDownDelay = -time.Second }, []string{"MITOSIS_SCALE_DOWN_DELAY=-1s"}},
		{"delay off", func(c *Config) { c.ScaleDownDelay = 0 }, nil},
		{"everything at once", func(c *Config) { c.MinReplicas, c.TargetUtilization, c.ScaleUpRate = -1, 0, 0 },
			[]string{"MITOSIS_MIN_REPLICAS=-1", "MITOSIS_TARGET_UTILIZATION=0", "MITOSIS_SCALE_UP_RATE=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Validate() gave %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}
