package config

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/functions"
)

// settings is every MITOSIS_* variable, in the order README.md lists them.
var settings = []setting{
	mk("MITOSIS_LISTEN", "public address (host:port) serving the app", str(func(c *Config) *string { return &c.Listen })),
	mk("MITOSIS_ADMIN_LISTEN", "admin address: /metrics, /healthz, /readyz, /_mitosis/", str(func(c *Config) *string { return &c.AdminListen })),
	mk("MITOSIS_UPSTREAM", "URL of an app that already listens (http://host:port); empty: the demo app, or the command after --", str(func(c *Config) *string { return &c.Upstream })),
	mk("MITOSIS_REPLICA_ID", "name of this replica (default: host name, plus -pid outside containers)", str(func(c *Config) *string { return &c.ReplicaID })),
	mk("MITOSIS_MAX_INFLIGHT", "requests inside the app at once", integer(func(c *Config) *int { return &c.Balancer.MaxInflight })),
	mk("MITOSIS_QUEUE_MAX", "requests that may wait for a slot", integer(func(c *Config) *int { return &c.Balancer.QueueMax })),
	mk("MITOSIS_QUEUE_TIMEOUT", "longest wait for a slot before 503", duration(func(c *Config) *time.Duration { return &c.Balancer.QueueTimeout })),
	mk("MITOSIS_REPLICA_HEADER", "add X-Mitosis-Replica to every response", boolean(func(c *Config) *bool { return &c.Balancer.ReplicaHeader })),
	mk("MITOSIS_CLUSTER_TOKEN", "shared secret required on hops and /_mitosis/state", str(func(c *Config) *string { return &c.Balancer.ClusterToken })),
	mk("MITOSIS_CLUSTER_TOKEN_FILE", "file holding the cluster token (a Docker secret); instead of MITOSIS_CLUSTER_TOKEN", str(func(c *Config) *string { return &c.ClusterTokenFile })),
	mk("MITOSIS_TLS_LISTEN", "HTTPS address (h2 and HTTP/1.1) when MITOSIS_TLS_CERT or MITOSIS_TLS_DOMAINS is set", str(func(c *Config) *string { return &c.TLS.Listen })),
	mk("MITOSIS_TLS_CERT", "PEM certificate chain file for HTTPS (reloaded when it changes)", str(func(c *Config) *string { return &c.TLS.CertFile })),
	mk("MITOSIS_TLS_KEY", "PEM private key file of MITOSIS_TLS_CERT", str(func(c *Config) *string { return &c.TLS.KeyFile })),
	mk("MITOSIS_TLS_DOMAINS", "comma-separated names to obtain one certificate for from the ACME CA (the tier's leader orders it)", codec{func(c *Config, v string) error {
		d, err := certs.ParseDomains(v)
		if err != nil {
			return err
		}
		c.TLS.Domains = d
		return nil
	}, func(c *Config) string { return strings.Join(c.TLS.Domains, ",") }, "names"}),
	mk("MITOSIS_ACME_CA", "ACME directory URL", str(func(c *Config) *string { return &c.TLS.CA })),
	mk("MITOSIS_ACME_EMAIL", "contact address of the ACME account (optional)", str(func(c *Config) *string { return &c.TLS.Email })),
	mk("MITOSIS_TLS_STORE", "directory keeping the tier's ACME account and certificate across a restart (a volume)", str(func(c *Config) *string { return &c.TLS.StoreDir })),
	mk("MITOSIS_HSTS", "max-age of Strict-Transport-Security on HTTPS responses (0: not sent)", duration(func(c *Config) *time.Duration { return &c.TLS.HSTS })),
	mk("MITOSIS_HTTP_REDIRECT", "plain-HTTP address that only redirects to HTTPS and answers ACME challenges (empty: off)", str(func(c *Config) *string { return &c.TLS.RedirectListen })),
	mk("MITOSIS_DRAIN_DELAY", "after SIGTERM, keep accepting this long while siblings learn we drain", duration(func(c *Config) *time.Duration { return &c.DrainDelay })),
	mk("MITOSIS_APP_START_TIMEOUT", "how long the app after -- has to listen on PORT before start-up fails", duration(func(c *Config) *time.Duration { return &c.AppStartTimeout })),
	mk("MITOSIS_DRAIN_TIMEOUT", "after SIGTERM, exit within this long in any case", duration(func(c *Config) *time.Duration { return &c.DrainTimeout })),
	mk("MITOSIS_READ_HEADER_TIMEOUT", "time a client has to send the request headers", duration(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })),
	mk("MITOSIS_IDLE_TIMEOUT", "idle keep-alive connections are closed after this", duration(func(c *Config) *time.Duration { return &c.IdleTimeout })),
	mk("MITOSIS_MAX_HEADER_BYTES", "largest request header block (larger: 431)", integer(func(c *Config) *int { return &c.MaxHeaderBytes })),
	mk("MITOSIS_BODY_TIMEOUT", "longest wait for the next bytes of a request body (then 408)", duration(func(c *Config) *time.Duration { return &c.BodyTimeout })),
	mk("MITOSIS_WRITE_TIMEOUT", "longest a client may leave a response unread before its connection closes", duration(func(c *Config) *time.Duration { return &c.WriteTimeout })),
	mk("MITOSIS_BODY_BUFFER", "request bodies up to this many bytes are read before the request takes a slot", integer(func(c *Config) *int { return &c.Balancer.BodyBuffer })),
	mk("MITOSIS_MAX_CONNS", "most client connections open at once (more: 503 and closed)", integer(func(c *Config) *int { return &c.MaxConns })),
	mk("MITOSIS_LOG_LEVEL", "debug, info, warn or error", codec{func(c *Config, v string) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(v)); err != nil {
			return errors.New("must be debug, info, warn or error")
		}
		c.LogLevel = l
		return nil
	}, func(c *Config) string { return strings.ToLower(c.LogLevel.String()) }, "debug|info|warn|error"}),
	mk("MITOSIS_LOG_FORMAT", "text or json", oneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")),
	mk("MITOSIS_ACCESS_LOG", "log one line per request", boolean(func(c *Config) *bool { return &c.AccessLog })),
	mk("MITOSIS_PPROF", "serve the Go profiler at /debug/pprof/ on the admin port (token-guarded)", boolean(func(c *Config) *bool { return &c.PProf })),
	mk("MITOSIS_HOPS_FROM", "a DNS name whose addresses may send hops too (the tier's entries, e.g. tasks.app_entry); empty: siblings only", str(func(c *Config) *string { return &c.HopsFrom })),
	mk("MITOSIS_ROLE", "replica (serve the app, share load, scale) or entry (serve nothing: forward every request to the replicas of MITOSIS_SERVICE)", oneOf(func(c *Config) *string { return &c.Role }, RoleReplica, RoleEntry)),
	mk("MITOSIS_DISCOVERY", "how siblings are found: auto, static, dns, swarm, docker, process", oneOf(func(c *Config) *string { return &c.Discovery }, "auto", "static", "dns", "swarm", "docker", "process")),
	mk("MITOSIS_PEERS", "static discovery: comma-separated sibling admin addresses (host:port)", str(func(c *Config) *string { return &c.Peers })),
	mk("MITOSIS_SERVICE", "the Swarm service of this replica (stack: {{.Service.Name}}); dns discovery resolves tasks.<service>", str(func(c *Config) *string { return &c.Service })),
	mk("MITOSIS_NETWORK", "swarm discovery: the network whose addresses siblings use (default: the service's first)", str(func(c *Config) *string { return &c.Network })),
	mk("MITOSIS_SYNC_INTERVAL", "how often siblings are discovered and polled", duration(func(c *Config) *time.Duration { return &c.Health.Interval })),
	mk("MITOSIS_HEALTH_TIMEOUT", "timeout of one sibling poll", duration(func(c *Config) *time.Duration { return &c.Health.Timeout })),
	mk("MITOSIS_HEALTH_CONCURRENCY", "most sibling polls in flight at once", integer(func(c *Config) *int { return &c.Health.Concurrency })),
	mk("MITOSIS_HEALTH_FAILS", "consecutive failed polls that make a sibling down", integer(func(c *Config) *int { return &c.Health.Fails })),
	mk("MITOSIS_DRIVER", "how replicas are started: auto, swarm, docker, process, off", oneOf(func(c *Config) *string { return &c.Driver }, "auto", "swarm", "docker", "process", "off")),
	mk("MITOSIS_GUARD", "swarm driver: scale through this guard (host:port), off (the Docker socket), or auto (the guard tasks.guard:7070 when no socket is mounted)", str(func(c *Config) *string { return &c.Guard })),
	mk("MITOSIS_GUARD_TOKEN_FILE", "file holding the secret shared with the guard (a Docker secret)", str(func(c *Config) *string { return &c.GuardTokenFile })),
	mk("MITOSIS_MIN_REPLICAS", "fewest replicas", integer(func(c *Config) *int { return &c.Autoscale.MinReplicas })),
	mk("MITOSIS_MAX_REPLICAS", "most replicas (hard cap)", integer(func(c *Config) *int { return &c.Autoscale.MaxReplicas })),
	mk("MITOSIS_TARGET_CONCURRENCY", "in-flight+queued requests one replica should carry", float(func(c *Config) *float64 { return &c.Autoscale.TargetConcurrency })),
	mk("MITOSIS_TARGET_UTILIZATION", "share of the target to aim for, (0; 1]", float(func(c *Config) *float64 { return &c.Autoscale.TargetUtilization })),
	mk("MITOSIS_LATENCY_SLO", "app p95 (queue time excluded) above this with requests queued asks for one more replica (0: off)", duration(func(c *Config) *time.Duration { return &c.Autoscale.LatencySLO })),
	mk("MITOSIS_STABLE_WINDOW", "averaging window of the stable signal", duration(func(c *Config) *time.Duration { return &c.Autoscale.StableWindow })),
	mk("MITOSIS_PANIC_WINDOW", "averaging window that detects bursts", duration(func(c *Config) *time.Duration { return &c.Autoscale.PanicWindow })),
	mk("MITOSIS_PANIC_THRESHOLD", "panic when the burst desire reaches this × current replicas", float(func(c *Config) *float64 { return &c.Autoscale.PanicThreshold })),
	mk("MITOSIS_SCALE_UP_RATE", "one step up reaches at most ceil(current × rate)", float(func(c *Config) *float64 { return &c.Autoscale.ScaleUpRate })),
	mk("MITOSIS_SCALE_DOWN_RATE", "one step down keeps at least floor(current / rate)", float(func(c *Config) *float64 { return &c.Autoscale.ScaleDownRate })),
	mk("MITOSIS_SCALE_DOWN_DELAY", "the highest desire over this long wins a scale-down", duration(func(c *Config) *time.Duration { return &c.Autoscale.ScaleDownDelay })),
	mk("MITOSIS_TICK", "how often every replica samples and decides", duration(func(c *Config) *time.Duration { return &c.Autoscale.Tick })),
	mk("MITOSIS_DRY_RUN", "decide and report, never act", boolean(func(c *Config) *bool { return &c.Autoscale.DryRun })),
	mk("MITOSIS_FUNCTIONS", "function routes: PATH[;async]=IMAGE [ARG...] or PATH[;async]=exec:COMMAND [ARG...], comma-separated", codec{
		func(c *Config, v string) error {
			fs, err := functions.ParseRoutes(v)
			c.Functions.Functions = fs
			return err
		},
		func(c *Config) string { return functions.Routes(c.Functions.Functions) }, "routes"}),
	mk("MITOSIS_FUNCTION_CONCURRENCY", "runs of one function at once, per replica", integer(func(c *Config) *int { return &c.Functions.Concurrency })),
	mk("MITOSIS_FUNCTION_QUEUE_MAX", "calls of one function that may wait for a run slot", integer(func(c *Config) *int { return &c.Functions.QueueMax })),
	mk("MITOSIS_FUNCTION_QUEUE_TIMEOUT", "longest wait for a run slot before 503", duration(func(c *Config) *time.Duration { return &c.Functions.QueueTimeout })),
	mk("MITOSIS_FUNCTION_TIMEOUT", "longest run of a function; then it is killed (504)", duration(func(c *Config) *time.Duration { return &c.Functions.Timeout })),
	mk("MITOSIS_FUNCTION_ASYNC_MAX", "accepted async runs of one function that may wait or run", integer(func(c *Config) *int { return &c.Functions.AsyncMax })),
	mk("MITOSIS_FUNCTION_MAX_BODY", "largest request body given to a function (bytes; larger: 413)", integer(func(c *Config) *int { return &c.Functions.MaxBody })),
	mk("MITOSIS_FUNCTION_MAX_OUTPUT", "largest function stdout (bytes; larger: the run is killed, 502)", integer(func(c *Config) *int { return &c.Functions.MaxOutput })),
	mk("MITOSIS_FUNCTION_NETWORK", "the network function containers join (none: no network)", str(func(c *Config) *string { return &c.Functions.Network })),
	mk("MITOSIS_FUNCTION_MEMORY_MB", "memory cap of a function container (MiB)", integer(func(c *Config) *int { return &c.Functions.MemoryMB })),
	mk("MITOSIS_FUNCTION_CPUS", "CPU cap of a function container", float(func(c *Config) *float64 { return &c.Functions.CPUs })),
	mk("MITOSIS_PARENT_PID", "internal: set by the process driver in its children", integer(func(c *Config) *int { return &c.ParentPID })),
	mk("MITOSIS_HOP_TOKEN", "internal: set by the process and docker drivers in the replicas they start (the token of their hops)", str(func(c *Config) *string { return &c.HopToken })),
}
