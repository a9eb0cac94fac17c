package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Discovery yields the current siblings. Implementations: NewStatic
// (MITOSIS_PEERS), NewDNS (tasks.<service>), the Swarm tasks source in
// discovery_swarm.go, and DiscoveryFunc for anything else (the process
// driver's children). Discover is called once per sync interval; an error
// leaves the table as it was.
type Discovery interface {
	Discover(ctx context.Context) ([]Target, error)
}

// DiscoveryFunc adapts a function to Discovery.
type DiscoveryFunc func(ctx context.Context) ([]Target, error)

// Discover calls f.
func (f DiscoveryFunc) Discover(ctx context.Context) ([]Target, error) { return f(ctx) }

// Discovery modes, the accepted values of MITOSIS_DISCOVERY.
const (
	ModeAuto    = "auto"
	ModeStatic  = "static"
	ModeDNS     = "dns"
	ModeSwarm   = "swarm"
	ModeProcess = "process"
	ModeDocker  = "docker"
)

// Sources recorded in Member.Source.
const (
	SourceStatic  = "static"
	SourceDNS     = "dns"
	SourceSwarm   = "swarm"
	SourceProcess = "process"
	SourceDocker  = "docker"
)

// ResolveMode validates a MITOSIS_DISCOVERY value and resolves "auto" (or
// ""): MITOSIS_PEERS set → static; else MITOSIS_SERVICE set → dns (it needs
// no Docker socket, only the overlay network's DNS, so it works on workers
// too); else process (the embedded single-host default).
func ResolveMode(mode string, havePeers, haveService bool) (string, error) {
	switch mode {
	case ModeStatic, ModeDNS, ModeSwarm, ModeProcess, ModeDocker:
		return mode, nil
	case ModeAuto, "":
		switch {
		case havePeers:
			return ModeStatic, nil
		case haveService:
			return ModeDNS, nil
		default:
			return ModeProcess, nil
		}
	}
	return "", fmt.Errorf("MITOSIS_DISCOVERY = %q, must be one of auto, static, dns, swarm, docker, process", mode)
}

// ParsePeers parses MITOSIS_PEERS: comma-separated admin addresses, each
// host:port with a numeric port in [1; 65535]. Blanks around entries and
// empty entries (a trailing comma) are ignored. The result is sorted and
// deduplicated. The error names the first bad entry.
func ParsePeers(s string) ([]string, error) {
	var out []string
	for i, raw := range strings.Split(s, ",") {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		if err := checkHostPort(e); err != nil {
			return nil, fmt.Errorf("peer %d %q: %w", i+1, e, err)
		}
		out = append(out, e)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ErrBadAddr is wrapped by address validation errors.
var ErrBadAddr = errors.New("want host:port")

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadAddr, err)
	}
	if host == "" {
		return fmt.Errorf("%w: empty host", ErrBadAddr)
	}
	if strings.ContainsAny(host, " /\t") {
		return fmt.Errorf("%w: invalid host %q", ErrBadAddr, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: port %q must be a number in [1; 65535]", ErrBadAddr, port)
	}
	return nil
}

type static struct{ targets []Target }

// NewStatic returns a Discovery that always yields adminAddrs (Source
// "static"), sorted and deduplicated. Every address must be host:port.
func NewStatic(adminAddrs []string) (Discovery, error) {
	addrs := slices.Clone(adminAddrs)
	for i, a := range addrs {
		if err := checkHostPort(a); err != nil {
			return nil, fmt.Errorf("peer %d %q: %w", i+1, a, err)
		}
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	ts := make([]Target, len(addrs))
	for i, a := range addrs {
		ts[i] = Target{AdminAddr: a, Source: SourceStatic}
	}
	return static{targets: ts}, nil
}

// Discover returns a fresh copy of the configured targets.
func (s static) Discover(context.Context) ([]Target, error) {
	return slices.Clone(s.targets), nil
}

// Resolver is the one method of *net.Resolver that DNS discovery needs
// (net.DefaultResolver satisfies it); tests pass a fake.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

type dnsDiscovery struct {
	name string
	port string
	r    Resolver
}

// NewDNS returns a Discovery that resolves name — on Swarm
// "tasks.<MITOSIS_SERVICE>", which lists one address per running task
// (endpoint_mode dnsrr or vip alike) — and yields each address joined with
// adminPort (Source "dns"), sorted and deduplicated. A nil r means
// net.DefaultResolver.
func NewDNS(name string, adminPort int, r Resolver) Discovery {
	if r == nil {
		r = net.DefaultResolver
	}
	return dnsDiscovery{name: name, port: strconv.Itoa(adminPort), r: r}
}

// Discover resolves the name once.
func (d dnsDiscovery) Discover(ctx context.Context) ([]Target, error) {
	hosts, err := d.r.LookupHost(ctx, d.name)
	if err != nil {
		return nil, fmt.Errorf("dns discovery %s: %w", d.name, err)
	}
	addrs := make([]string, 0, len(hosts))
	for _, h := range hosts {
		addrs = append(addrs, net.JoinHostPort(h, d.port))
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	ts := make([]Target, len(addrs))
	for i, a := range addrs {
		ts[i] = Target{AdminAddr: a, Source: SourceDNS}
	}
	return ts, nil
}
