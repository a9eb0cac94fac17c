package health

import (
	"fmt"
	"time"
)

// Config configures the sibling prober. The variable names in Validate's
// messages are the ones main reads.
type Config struct {
	// Interval between poll rounds (MITOSIS_SYNC_INTERVAL, default 1s). The
	// starts of one round's polls are spread over the first half of it.
	Interval time.Duration
	// Timeout bounds one poll (MITOSIS_HEALTH_TIMEOUT, default 500ms); it
	// must not exceed Interval so rounds do not pile up.
	Timeout time.Duration
	// Fails is how many consecutive failed polls make a sibling down
	// (MITOSIS_HEALTH_FAILS, default 3).
	Fails int
	// Concurrency bounds the polls in flight at once
	// (MITOSIS_HEALTH_CONCURRENCY, default 16).
	Concurrency int
}

// DefaultConfig returns Interval 1s, Timeout 500ms, Fails 3, Concurrency 16.
func DefaultConfig() Config {
	return Config{Interval: time.Second, Timeout: 500 * time.Millisecond, Fails: 3, Concurrency: 16}
}

// Validate reports the first invalid setting, naming the variable, the value
// and the accepted range.
func (c Config) Validate() error {
	switch {
	case c.Interval < 10*time.Millisecond || c.Interval > 10*time.Minute:
		return fmt.Errorf("MITOSIS_SYNC_INTERVAL = %s, must be in [10ms; 10m]", c.Interval)
	case c.Timeout < time.Millisecond || c.Timeout > c.Interval:
		return fmt.Errorf("MITOSIS_HEALTH_TIMEOUT = %s, must be in [1ms; %s] (at most MITOSIS_SYNC_INTERVAL)", c.Timeout, c.Interval)
	case c.Fails < 1 || c.Fails > 100:
		return fmt.Errorf("MITOSIS_HEALTH_FAILS = %d, must be in [1; 100]", c.Fails)
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return fmt.Errorf("MITOSIS_HEALTH_CONCURRENCY = %d, must be in [1; 1024]", c.Concurrency)
	}
	return nil
}
