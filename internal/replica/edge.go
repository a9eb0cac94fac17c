package replica

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/internal/config"
)

// edgeConfig is the h1 server's configuration: the deadlines, limits and
// framing rules of the public listener; upstream is "" without a fast
// path (the h1 server then guards every connection and hands it to
// net/http).
func edgeConfig(c config.Config, upstream string) h1.Config {
	fc := h1.DefaultConfig()
	fc.Upstream, fc.ReplicaID, fc.ReplicaHeader = upstream, c.ReplicaID, c.Balancer.ReplicaHeader
	fc.ReadHeaderTimeout, fc.IdleTimeout = c.ReadHeaderTimeout, c.IdleTimeout
	fc.BodyTimeout, fc.WriteTimeout, fc.MaxConns = c.BodyTimeout, c.WriteTimeout, c.MaxConns
	fc.BodyBuffer = int64(c.Balancer.BodyBuffer)
	fc.MaxIdleUpstream = max(c.Balancer.MaxInflight, 16)
	fc.Fields = balancer.Fields()
	return fc
}

// CheckFileLimit reports a MITOSIS_MAX_CONNS the process's open-file limit
// cannot hold (with the app's slots and the idle upstream pool), naming
// the fix; start-up treats it as an invalid setting.
func CheckFileLimit(c config.Config) error {
	return h1.CheckFileLimit(c.MaxConns, c.Balancer.MaxInflight, edgeConfig(c, "").MaxIdleUpstream)
}

// hopToken is the token this replica's hops carry and require: the
// cluster token, else the one its driver was given or generated.
func hopToken(c config.Config) string {
	if c.Balancer.ClusterToken != "" {
		return c.Balancer.ClusterToken
	}
	return c.HopToken
}

// newToken is a random hop token (256 bits, hex).
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
