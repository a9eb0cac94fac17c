package admin

import (
	"net"
	"sort"

	"github.com/mitosis-run/mitosis/pool"
)

// TargetGroup is one entry of Prometheus' HTTP service discovery format
// (http_sd_configs): the admin addresses to scrape and their labels.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Targets lists every replica this one knows, itself first, one group
// each labelled mitosis_replica=<id>, for GET /_mitosis/targets: with the
// process driver the children's loopback admin ports are found nowhere
// else. Down members are left out (they are retired or unreachable); a
// member not polled yet is listed under its admin address.
func Targets(selfID, selfAdmin string, members []pool.Member) []TargetGroup {
	out := []TargetGroup{{Targets: []string{selfAdmin}, Labels: map[string]string{"mitosis_replica": selfID}}}
	rest := make([]TargetGroup, 0, len(members))
	for _, m := range members {
		addr := m.AdminAddr
		if addr == "" {
			addr = m.Key
		}
		if m.State == pool.StateDown || addr == "" || addr == selfAdmin {
			continue
		}
		id := m.ID
		if id == "" {
			id = addr
		}
		rest = append(rest, TargetGroup{Targets: []string{addr}, Labels: map[string]string{"mitosis_replica": id}})
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Targets[0] < rest[j].Targets[0] })
	return append(out, rest...)
}

// selfTarget is this admin server's address as a scrape target: bound to
// a wildcard host (":9090"), the host the request came to stands in.
func selfTarget(bound, requestHost string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return bound
	}
	if h, _, err := net.SplitHostPort(requestHost); err == nil {
		return net.JoinHostPort(h, port)
	}
	if requestHost != "" {
		return net.JoinHostPort(requestHost, port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}
