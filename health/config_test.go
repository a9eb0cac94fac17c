package health

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		cfg     Config
		errPart string
	}{
		{"default", DefaultConfig(), ""},
		{"interval too short", mod(func(c *Config) { c.Interval = time.Millisecond }), "MITOSIS_SYNC_INTERVAL = 1ms, must be in [10ms; 10m]"},
		{"timeout over interval", mod(func(c *Config) { c.Timeout = 2 * time.Second }), "MITOSIS_HEALTH_TIMEOUT = 2s, must be in [1ms; 1s]"},
		{"timeout zero", mod(func(c *Config) { c.Timeout = 0 }), "MITOSIS_HEALTH_TIMEOUT = 0s"},
		{"fails zero", mod(func(c *Config) { c.Fails = 0 }), "MITOSIS_HEALTH_FAILS = 0, must be in [1; 100]"},
		{"concurrency zero", mod(func(c *Config) { c.Concurrency = 0 }), "MITOSIS_HEALTH_CONCURRENCY = 0, must be in [1; 1024]"},
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
	d := DefaultConfig()
	if d.Interval != time.Second || d.Timeout != 500*time.Millisecond || d.Fails != 3 || d.Concurrency != 16 {
		t.Fatalf("DefaultConfig = %+v", d)
	}
}
