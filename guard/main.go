package guard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mitosis-run/mitosis/spawner"
)

// Main is `mitosis guard [config|healthcheck]`: it serves the capability
// API until SIGTERM or SIGINT, prints the effective settings, or checks a
// running guard's /healthz. It returns the exit status: 0, 1 when serving
// failed, 2 for bad configuration.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	cfg, err := FromEnv(environ)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "":
	case "config":
		cfg.print(stdout)
		return 0
	case "healthcheck":
		return healthcheck(cfg, stderr)
	default:
		fmt.Fprintf(stderr, "mitosis guard: unknown argument %q (usage: mitosis guard [config|healthcheck])\n", sub)
		return 2
	}
	token, err := spawner.ReadGuardToken("MITOSIS_GUARD_TOKEN_FILE", cfg.TokenFile)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, token, log); err != nil {
		log.Error("guard: stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg Config, token []byte, log *slog.Logger) error {
	eng, err := spawner.NewEngine(spawner.DefaultEngineConfig())
	if err != nil {
		return err
	}
	defer eng.Close()
	svcs, err := spawner.NewServices(eng)
	if err != nil {
		return err
	}
	base := spawner.DefaultTaskConfig()
	base.Timeout = cfg.RunTimeout
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api, err := NewServer(cfg, token, svcs, taskRunners(eng, base), reg, log, nil)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", api)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("MITOSIS_GUARD_LISTEN=%s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second, // the body; a run's answer may take RunTimeout
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("guard: listening", "addr", ln.Addr().String(), "label", cfg.Label, "images", strings.Join(cfg.Images, ","),
		"network", cfg.Network, "scales_per_minute", cfg.ScalesPerMinute, "runs", cfg.Runs)
	go func() {
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if ok, err := svcs.Manager(mctx); err != nil || !ok {
			log.Warn("guard: this daemon does not answer the Swarm control API (run the guard on managers): scale calls will fail", "err", err)
		}
	}()
	go sweepTasks(ctx, svcs, eng, base, cfg.Label, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Runs in flight are cancelled: their containers are killed and
	// removed by the runner.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Info("guard: stopped")
	return nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}

func printErrors(w io.Writer, err error) {
	type multi interface{ Unwrap() []error }
	var walk func(error)
	walk = func(e error) {
		if m, ok := e.(multi); ok {
			for _, x := range m.Unwrap() {
				walk(x)
			}
			return
		}
		if e != nil {
			fmt.Fprintf(w, "mitosis guard: %v\n", e)
		}
	}
	walk(err)
}

// healthcheck asks the local guard for /healthz: the HEALTHCHECK of the
// guard service (the image has no shell).
func healthcheck(cfg Config, stderr io.Writer) int {
	_, port, _ := net.SplitHostPort(cfg.Listen)
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz")
	if err != nil {
		fmt.Fprintf(stderr, "mitosis guard healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "mitosis guard healthcheck: %s\n", resp.Status)
		return 1
	}
	return 0
}

// print writes the effective settings, one VAR=value a line.
func (c Config) print(w io.Writer) {
	for _, kv := range [][2]string{
		{"MITOSIS_GUARD_LISTEN", c.Listen},
		{"MITOSIS_GUARD_TOKEN_FILE", c.TokenFile},
		{"MITOSIS_GUARD_LABEL", c.Label},
		{"MITOSIS_GUARD_IMAGES", strings.Join(c.Images, ",")},
		{"MITOSIS_GUARD_NETWORK", c.Network},
		{"MITOSIS_GUARD_RUN_TIMEOUT", c.RunTimeout.String()},
		{"MITOSIS_GUARD_RUNS", fmt.Sprint(c.Runs)},
		{"MITOSIS_GUARD_SCALES_PER_MINUTE", fmt.Sprint(c.ScalesPerMinute)},
		{"MITOSIS_GUARD_READS_PER_SECOND", fmt.Sprint(c.ReadsPerSecond)},
		{"MITOSIS_GUARD_HARD_CAP", fmt.Sprint(c.HardCap)},
		{"MITOSIS_GUARD_CACHE_TTL", c.CacheTTL.String()},
		{"MITOSIS_LOG_LEVEL", strings.ToLower(c.LogLevel.String())},
		{"MITOSIS_LOG_FORMAT", c.LogFormat},
	} {
		fmt.Fprintf(w, "%s=%s\n", kv[0], kv[1])
	}
}

// sweepTasks removes function containers a guard left behind (killed
// during a run, they would run on unbounded): at start and every five
// minutes, those of every labelled service past their deadline by more
// than a minute.
func sweepTasks(ctx context.Context, svcs *spawner.Services, eng *spawner.Engine, base spawner.TaskConfig, label string, log *slog.Logger) {
	for {
		tasks, err := svcs.Labelled(ctx, label)
		groups := map[string]bool{}
		for _, t := range tasks {
			groups[t.ServiceName] = true
		}
		for g := range groups {
			cfg := base
			cfg.Group = g
			ts, terr := spawner.NewTasks(eng, cfg)
			if terr != nil {
				err = terr
				break
			}
			if n, serr := ts.Sweep(ctx); n > 0 || serr != nil {
				log.Info("guard: removed function containers left behind", "service", g, "removed", n, "err", serr)
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Debug("guard: sweep of left-behind function containers failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Minute):
		}
	}
}
