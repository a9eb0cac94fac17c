package guard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// runner runs one function container (*spawner.Tasks).
type runner interface {
	RunTask(ctx context.Context, spec spawner.TaskSpec) (spawner.TaskResult, error)
}

// runnerFor returns the runner for a caller's runs: their containers are
// labelled with the caller's service and task as owner.
type runnerFor func(c caller) (runner, error)

// taskRunners runs every caller's tasks on e with the forced-safe
// settings of spawner's task containers, the caps of base (default: the
// spawner's), and the caller's task and service as owner and group.
func taskRunners(e *spawner.Engine, base spawner.TaskConfig) runnerFor {
	return func(c caller) (runner, error) {
		cfg := base
		cfg.Owner, cfg.Group = c.Task, c.Service
		return spawner.NewTasks(e, cfg)
	}
}

// run starts an allow-listed image with the settings the guard imposes;
// the request can name nothing else (decodeStrict refuses other fields).
func (s *Server) run(r *http.Request, c caller) (any, []any, error) {
	var req spawner.GuardRunRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, nil, err
	}
	attrs := []any{"image", req.Image, "args", len(req.Args)}
	if s.runner == nil || !slices.Contains(s.cfg.Images, req.Image) {
		return nil, attrs, refuse(http.StatusForbidden, spawner.RuleNotAllowedImage, "image %q is not on the guard's allow-list (MITOSIS_GUARD_IMAGES)", req.Image)
	}
	timeout := s.cfg.RunTimeout
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		switch {
		case err != nil || d <= 0:
			return nil, attrs, refuse(http.StatusBadRequest, spawner.RuleBadRequest, "timeout %q: must be a positive Go duration", req.Timeout)
		case d > s.cfg.RunTimeout:
			return nil, attrs, refuse(http.StatusForbidden, spawner.RuleTimeoutTooLong, "timeout %s: above the guard's maximum %s", d, s.cfg.RunTimeout)
		}
		timeout = d
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, attrs, refuse(http.StatusBadRequest, spawner.RuleBadRequest, "env entry %q: must be KEY=VALUE", kv)
		}
	}
	if !s.runs.acquire(c.ServiceID) {
		return nil, attrs, refuse(http.StatusTooManyRequests, spawner.RuleRateLimited, "%s already has %d runs", c.Service, s.cfg.Runs)
	}
	defer s.runs.release(c.ServiceID)
	s.m.runs.Inc()
	defer s.m.runs.Dec()
	rn, err := s.runner(c)
	if err != nil {
		return nil, attrs, err
	}
	start := s.now()
	res, err := rn.RunTask(r.Context(), spawner.TaskSpec{Image: req.Image, Args: req.Args, Env: req.Env, Stdin: req.Stdin, Network: s.cfg.Network, Timeout: timeout})
	attrs = append(attrs, "run_ms", s.now().Sub(start).Milliseconds())
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, attrs, refuse(http.StatusGatewayTimeout, spawner.RuleRunTimeout, "the run of %s passed its timeout %s and was removed", req.Image, timeout)
	case errors.Is(err, spawner.ErrOutputLimit):
		return nil, attrs, refuse(http.StatusBadGateway, spawner.RuleOutputTooLarge, "%v", err)
	case err != nil:
		return nil, attrs, refuse(http.StatusBadGateway, spawner.RuleRunFailed, "%v", err)
	}
	attrs = append(attrs, "exit", res.ExitCode)
	return spawner.GuardRunResult(res), attrs, nil
}
