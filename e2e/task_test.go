package e2e

import (
	"context"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// functionContainers runs one-shot task containers (spawner.RunTask) on
// the real daemon, from the test image (its ENTRYPOINT is /mitosis): the
// arguments and environment reach the container, its exit code and output
// come back, one attached to the stack's network reaches the service, one
// past its timeout is killed, and none is left behind.
func functionContainers(h *harness) {
	t := h.t
	e, err := spawner.NewEngine(spawner.DefaultEngineConfig())
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := spawner.NewTasks(e, spawner.DefaultTaskConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Arguments and environment in, exit code and output out.
	res, err := tasks.RunTask(ctx, spawner.TaskSpec{Image: h.image, Args: []string{"config"}, Env: []string{"MITOSIS_MAX_INFLIGHT=77"}})
	if err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "77") {
		t.Fatalf("config task: %+v (stdout %q), %v; want exit 0 and the setting", res, res.Stdout, err)
	}
	res, err = tasks.RunTask(ctx, spawner.TaskSpec{Image: h.image, Args: []string{"config"}, Env: []string{"MITOSIS_MAX_INFLIGHT=lots"}})
	if err != nil || res.ExitCode != 2 || !strings.Contains(string(res.Stderr), "MITOSIS_MAX_INFLIGHT") {
		t.Fatalf("bad config task: %+v (stderr %q), %v; want exit 2 naming the variable", res, res.Stderr, err)
	}

	// On the stack's network a task reaches the service: the health check
	// of one replica's admin listener, by its DNS name.
	res, err = tasks.RunTask(ctx, spawner.TaskSpec{Image: h.image, Args: []string{"healthcheck"}, Network: h.network,
		Env: []string{"MITOSIS_ADMIN_LISTEN=" + h.service + ":9090"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("healthcheck task on %s: %+v (stderr %q), %v; want exit 0", h.network, res, res.Stderr, err)
	}

	// A task past its timeout (a mitosis that serves forever) is killed.
	start := time.Now()
	_, err = tasks.RunTask(ctx, spawner.TaskSpec{Image: h.image, Timeout: 3 * time.Second, Env: []string{"MITOSIS_DRIVER=off"}})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("task past its timeout: %v; want a deadline error", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the timed-out task took %s to end", d)
	}

	// Every task container was removed.
	left, err := h.docker("ps", "-aq", "--filter", "label="+spawner.LabelTask)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(left) != "" {
		t.Errorf("task containers left behind: %s", left)
	}
}
