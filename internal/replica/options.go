package replica

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/spawner"
)

// Option changes what Start builds. Without options a replica serves the
// demo app (or MITOSIS_UPSTREAM), logs to stderr as the config says, reads
// os.Environ() and resolves MITOSIS_DRIVER itself.
type Option func(*options)

type options struct {
	handler   http.Handler
	build     func(*Replica) http.Handler
	functions []functions.Function
	command   []string
	environ   []string
	log       *slog.Logger
	reg       *prometheus.Registry
	driver    spawner.Driver
	hurry     func() (<-chan os.Signal, func())
}

// WithHandler serves h in-process as the app: a program that embeds a
// replica around its own handler. The process driver then starts copies
// of that program (os.Executable) with the configuration in their
// environment. It excludes MITOSIS_UPSTREAM and WithCommand.
func WithHandler(h http.Handler) Option { return func(o *options) { o.handler = h } }

// WithApp is WithHandler for a handler that needs the replica: build is
// called once during Start, when the replica's functions exist
// (r.Functions() to call them) and before it serves; r.Tier() may be
// called from the handler at request time.
func WithApp(build func(r *Replica) http.Handler) Option { return func(o *options) { o.build = build } }

// WithFunctions adds functions to those of MITOSIS_FUNCTIONS: typically
// ones without a route, which the program calls through r.Functions()
// (see functions.ParseTarget). They run with the same limits.
func WithFunctions(fs ...functions.Function) Option {
	return func(o *options) { o.functions = append(o.functions, fs...) }
}

// WithCommand starts argv as a child process with PORT set, serves it, and
// stops it after the drain (mitosis -- CMD ARGS).
func WithCommand(argv []string) Option { return func(o *options) { o.command = argv } }

// WithEnviron is the environment the platform is detected in and child
// replicas start with (default os.Environ()).
func WithEnviron(environ []string) Option { return func(o *options) { o.environ = environ } }

// WithLogger logs there instead of NewLogger(c, os.Stderr).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegistry puts the replica's metrics on reg (served at /metrics)
// instead of a registry of its own with the Go and process collectors.
func WithRegistry(reg *prometheus.Registry) Option { return func(o *options) { o.reg = reg } }

// WithDriver acts on the platform through d instead of resolving
// MITOSIS_DRIVER; siblings are then found through MITOSIS_DISCOVERY.
func WithDriver(d spawner.Driver) Option { return func(o *options) { o.driver = d } }

// WithHurry replaces the second-Ctrl-C watch: notify is called when the
// drain begins, a value on its channel ends the drain at once, and stop is
// called when the drain is over.
func WithHurry(notify func() (ch <-chan os.Signal, stop func())) Option {
	return func(o *options) { o.hurry = notify }
}

// secondInterrupt reports a second Ctrl-C (SIGINT) during the drain: the
// operator wants out now. A repeated SIGTERM is not a hurry: platforms and
// drivers may send it twice, and the drain timeout bounds the wait anyway.
func secondInterrupt() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT)
	return ch, func() { signal.Stop(ch) }
}

// NewLogger is the logger a replica uses without WithLogger: text or JSON
// (MITOSIS_LOG_FORMAT) at MITOSIS_LOG_LEVEL, every line naming the replica.
// Durations read as in the configuration ("2s", "150ms"), also in JSON,
// where slog would write nanoseconds.
func NewLogger(c config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel, ReplaceAttr: durationString}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("replica", c.ReplicaID)
}

// durationString renders a duration attribute as its Go string.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
