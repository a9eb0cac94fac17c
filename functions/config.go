package functions

import (
	"errors"
	"fmt"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// Config is the functions' part of the configuration. Every limit is per
// function and per replica. The zero value is not usable; start from
// DefaultConfig.
type Config struct {
	// Functions are the functions this replica may run: the routes of
	// MITOSIS_FUNCTIONS (see ParseRoutes) and any a Go program adds.
	Functions []Function
	// Concurrency is how many runs of one function may be in progress at
	// once (MITOSIS_FUNCTION_CONCURRENCY, default 4).
	Concurrency int
	// QueueMax is how many calls of one function may wait for a run slot
	// (MITOSIS_FUNCTION_QUEUE_MAX, default 32); more are refused at once
	// (503 with Retry-After).
	QueueMax int
	// QueueTimeout is the longest a call waits for a slot, then it is
	// refused (MITOSIS_FUNCTION_QUEUE_TIMEOUT, default 5s).
	QueueTimeout time.Duration
	// Timeout bounds one run, start to exit; then it is killed and removed
	// (MITOSIS_FUNCTION_TIMEOUT, default 30s).
	Timeout time.Duration
	// AsyncMax is how many accepted async runs of one function may wait or
	// run; more are refused with 503 (MITOSIS_FUNCTION_ASYNC_MAX, default
	// 100). Async runs wait for a slot without QueueTimeout.
	AsyncMax int
	// MaxBody caps a request body given to a function on stdin (larger:
	// 413; MITOSIS_FUNCTION_MAX_BODY, default 1 MiB).
	MaxBody int
	// MaxOutput caps a function's stdout, the response (more: the run is
	// killed and the caller gets 502; MITOSIS_FUNCTION_MAX_OUTPUT, default
	// 1 MiB).
	MaxOutput int
	// MaxStderr caps the stderr of one run that goes to the log (default
	// 8 KiB; the rest is dropped).
	MaxStderr int
	// MaxEnv caps the size of the request's CGI environment (headers
	// included; larger: 431). Default 32 KiB.
	MaxEnv int
	// Network is the only network function containers join
	// (MITOSIS_FUNCTION_NETWORK, default "none": no network). "host" and
	// "container:..." are refused.
	Network string
	// MemoryMB and CPUs cap every function container
	// (MITOSIS_FUNCTION_MEMORY_MB, default 128; MITOSIS_FUNCTION_CPUS,
	// default 0.5).
	MemoryMB int
	CPUs     float64
	// RetryAfter is the Retry-After (seconds) sent with 503 (default 1).
	RetryAfter int
}

// DefaultConfig returns the defaults documented on Config, with no
// functions.
func DefaultConfig() Config {
	return Config{
		Concurrency:  4,
		QueueMax:     32,
		QueueTimeout: 5 * time.Second,
		Timeout:      30 * time.Second,
		AsyncMax:     100,
		MaxBody:      1 << 20,
		MaxOutput:    1 << 20,
		MaxStderr:    8 << 10,
		MaxEnv:       32 << 10,
		Network:      "none",
		MemoryMB:     128,
		CPUs:         0.5,
		RetryAfter:   1,
	}
}

// Validate reports every invalid field at once, naming the variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names, paths := map[string]bool{}, map[string]bool{}
	for _, f := range c.Functions {
		if err := f.check(); err != nil {
			bad("MITOSIS_FUNCTIONS entry %q: %w", f.String(), err)
			continue
		}
		if names[f.Name] {
			bad("MITOSIS_FUNCTIONS entry %q: function %s is defined twice", f.String(), f.Name)
		}
		if f.Path != "" && paths[f.Path] {
			bad("MITOSIS_FUNCTIONS entry %q: path %s is mapped twice", f.String(), f.Path)
		}
		names[f.Name], paths[f.Path] = true, true
	}
	if c.Concurrency < 1 || c.Concurrency > 10_000 {
		bad("MITOSIS_FUNCTION_CONCURRENCY=%d: must be in [1; 10000]", c.Concurrency)
	}
	if c.QueueMax < 0 || c.QueueMax > 1_000_000 {
		bad("MITOSIS_FUNCTION_QUEUE_MAX=%d: must be in [0; 1000000]", c.QueueMax)
	}
	if c.QueueTimeout <= 0 || c.QueueTimeout > time.Hour {
		bad("MITOSIS_FUNCTION_QUEUE_TIMEOUT=%s: must be in (0s; 1h]", c.QueueTimeout)
	}
	if c.Timeout < 100*time.Millisecond || c.Timeout > 24*time.Hour {
		bad("MITOSIS_FUNCTION_TIMEOUT=%s: must be in [100ms; 24h]", c.Timeout)
	}
	if c.AsyncMax < 0 || c.AsyncMax > 1_000_000 {
		bad("MITOSIS_FUNCTION_ASYNC_MAX=%d: must be in [0; 1000000]", c.AsyncMax)
	}
	if c.MaxBody < 0 || c.MaxBody > 64<<20 {
		bad("MITOSIS_FUNCTION_MAX_BODY=%d: must be in [0; %d] bytes", c.MaxBody, 64<<20)
	}
	if c.MaxOutput < 1 || c.MaxOutput > 64<<20 {
		bad("MITOSIS_FUNCTION_MAX_OUTPUT=%d: must be in [1; %d] bytes", c.MaxOutput, 64<<20)
	}
	if c.MaxStderr < 0 || c.MaxStderr > 1<<20 {
		bad("functions: max stderr = %d, must be in [0; %d] bytes", c.MaxStderr, 1<<20)
	}
	if c.MaxEnv < 1<<10 || c.MaxEnv > 1<<20 {
		bad("functions: max env = %d, must be in [1024; %d] bytes", c.MaxEnv, 1<<20)
	}
	if err := spawner.CheckNetwork(c.Network); err != nil {
		bad("MITOSIS_FUNCTION_NETWORK=%s: %w", c.Network, err)
	}
	if c.MemoryMB < 6 || c.MemoryMB > 64<<10 {
		bad("MITOSIS_FUNCTION_MEMORY_MB=%d: must be in [6; 65536]", c.MemoryMB)
	}
	if c.CPUs < 0.01 || c.CPUs > 64 {
		bad("MITOSIS_FUNCTION_CPUS=%g: must be in [0.01; 64]", c.CPUs)
	}
	if c.RetryAfter < 0 {
		bad("functions: retry-after %d: must be >= 0", c.RetryAfter)
	}
	return errors.Join(errs...)
}

// TaskConfig is the spawner's task configuration for these limits: the
// caps every function container gets. The caller adds the owner and group
// labels.
func (c Config) TaskConfig() spawner.TaskConfig {
	tc := spawner.DefaultTaskConfig()
	tc.Timeout = max(c.Timeout, time.Second)
	tc.MaxOutput = c.MaxOutput
	tc.MaxStderr = c.MaxStderr
	tc.Memory = int64(c.MemoryMB) << 20
	tc.NanoCPUs = int64(c.CPUs * 1e9)
	tc.TmpfsBytes = min(tc.TmpfsBytes, tc.Memory/2)
	return tc
}
