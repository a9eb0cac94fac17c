// Command voting is the article's voting app ("Serverless apps with
// Docker", 2016), built on mitosis: one static binary in several roles.
//
//	voting                 the web tier: a mitosis replica (it scales itself)
//	                       serving the vote and result pages; each vote runs
//	                       the record function once. Without VOTING_STORE it
//	                       also runs the store, in this process.
//	voting store           the votes: bbolt on a volume behind a small HTTP API
//	voting record          the function: writes one vote (VOTER_ID, VOTE) to the store
//	voting voters          a load of simulated voters, for tests and demos
//	voting guard           mitosis's guard: on Swarm, the only holder of the
//	                       Docker socket; scales the web tier and runs the
//	                       record containers for it
//	voting healthcheck     [-store] the HEALTHCHECK of the images (no shell in them)
//
// See README.md next to this file.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/guard"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/replica"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	role := "web"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		role, args = args[0], args[1:]
	}
	switch role {
	case "web":
		return runWeb(args, environ, stderr)
	case "store":
		return runStore(environ, stderr)
	case "record":
		return record(args, stdout, stderr)
	case "voters":
		return voters(args, stdout, stderr)
	case "guard":
		return guard.Main(args, environ, stdout, stderr)
	case "healthcheck":
		return healthcheck(args, environ, stderr)
	}
	fmt.Fprintf(stderr, "voting: unknown role %q: web (default), store, record, voters, guard or healthcheck\n", role)
	return 2
}

func getenv(environ []string, key, def string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
			return v
		}
	}
	return def
}

// runWeb runs one web replica. The first one (no VOTING_STORE) starts
// the store in this process on a loopback port and hands its URL to the
// replicas the process driver starts, through their environment.
func runWeb(args, environ []string, stderr io.Writer) int {
	c, _, warnings, err := config.Load(environ, args)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "voting: warning: %s\n", w)
	}
	if err != nil {
		for _, p := range config.Problems(err) {
			fmt.Fprintf(stderr, "voting: %s\n", p)
		}
		return 2
	}
	log := replica.NewLogger(c, stderr)
	fn, err := recordFunction(environ)
	if err != nil {
		fmt.Fprintf(stderr, "voting: %v\n", err)
		return 2
	}
	storeURL := getenv(environ, "VOTING_STORE", "")
	if storeURL == "" {
		path := getenv(environ, "VOTING_DATA", filepath.Join(os.TempDir(), "mitosis-voting.db"))
		stop, url, err := startStore(path, "127.0.0.1:0", log)
		if err != nil {
			log.Error("store", "err", err)
			return 1
		}
		defer stop()
		storeURL = url
		environ = append(environ, "VOTING_STORE="+url)
		log.Info("store in this process", "data", path, "url", url)
	}
	wb := &web{store: strings.TrimSuffix(storeURL, "/"), client: &http.Client{Timeout: 5 * time.Second}, log: log}
	if w := getenv(environ, "VOTING_RECORD_WORK", ""); w != "" {
		if d, err := time.ParseDuration(w); err != nil || d < 0 || d > 10*time.Second {
			fmt.Fprintf(stderr, "voting: VOTING_RECORD_WORK=%q: must be a duration in [0s; 10s]\n", w)
			return 2
		}
		wb.args = []string{"-work", w}
	}
	r, err := replica.Start(c,
		replica.WithApp(func(r *replica.Replica) http.Handler {
			wb.fns, wb.tier = r.Functions(), r
			return wb.handler()
		}),
		replica.WithFunctions(fn),
		replica.WithEnviron(environ),
		replica.WithLogger(log))
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	return r.Wait(ctx)
}

// recordFunction is the record function: the image VOTING_RECORD_IMAGE
// (a container per vote, on Docker) or, without it, this very program as
// a local process (`voting record`).
func recordFunction(environ []string) (functions.Function, error) {
	if img := getenv(environ, "VOTING_RECORD_IMAGE", ""); img != "" {
		f, err := functions.ParseTarget("record", img+" record")
		if err != nil {
			return f, fmt.Errorf("VOTING_RECORD_IMAGE=%q: %w", img, err)
		}
		return f, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return functions.Function{}, fmt.Errorf("cannot find this program to run it as the record function: %w", err)
	}
	return functions.Function{Name: "record", Command: exe, Args: []string{"record"}}, nil
}

// startStore opens the database at path and serves it on addr.
func startStore(path, addr string, log *slog.Logger) (stop func(), url string, err error) {
	st, err := openStore(path)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		st.Close()
		return nil, "", err
	}
	srv := &http.Server{Handler: st.handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Error("store server", "err", err)
		}
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = st.Close()
	}
	return stop, "http://" + ln.Addr().String(), nil
}

// runStore is the store role: VOTING_DATA (default /data/votes.db) served
// on VOTING_STORE_LISTEN (default :8081) until SIGTERM.
func runStore(environ []string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("role", "store")
	path := getenv(environ, "VOTING_DATA", "/data/votes.db")
	addr := getenv(environ, "VOTING_STORE_LISTEN", ":8081")
	stop, url, err := startStore(path, addr, log)
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	log.Info("serving", "data", path, "url", url)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	<-ctx.Done()
	stop()
	log.Info("stopped")
	return 0
}

// healthcheck checks the web replica's admin /healthz, or with -store the
// store's /healthz on VOTING_STORE_LISTEN.
func healthcheck(args, environ []string, stderr io.Writer) int {
	ctx := context.Background()
	var err error
	if len(args) > 0 && args[0] == "-store" {
		_, port, _ := net.SplitHostPort(getenv(environ, "VOTING_STORE_LISTEN", ":8081"))
		var resp *http.Response
		if resp, err = (&http.Client{Timeout: 3 * time.Second}).Get("http://127.0.0.1:" + port + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("store /healthz: %s", resp.Status)
			}
		}
	} else {
		err = admin.Check(ctx, getenv(environ, "MITOSIS_ADMIN_LISTEN", ":9090"), false)
	}
	if err != nil {
		fmt.Fprintf(stderr, "voting healthcheck: %v\n", err)
		return 1
	}
	return 0
}
