package h1

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		tune func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"default with upstream", func(c *Config) {}, ""},
		{"no upstream: no fast path", func(c *Config) { c.Upstream = "" }, ""},
		{"upstream without port", func(c *Config) { c.Upstream = "localhost" }, "host:port"},
		{"zero idle timeout", func(c *Config) { c.IdleTimeout = 0 }, "idle timeout 0s"},
		{"tiny max header", func(c *Config) { c.MaxHeaderBytes = 10 }, "max header bytes 10"},
		{"negative idle pool", func(c *Config) { c.MaxIdleUpstream = -1 }, "max idle upstream -1"},
		{"negative sibling pool", func(c *Config) { c.MaxIdlePerSibling = -1 }, "max idle per sibling -1"},
		{"bad replica id", func(c *Config) { c.ReplicaID = "a\nb" }, "replica id"},
		{"long dial", func(c *Config) { c.DialTimeout = 48 * time.Hour }, "dial timeout"},
		{"no conns", func(c *Config) { c.MaxConns = 0 }, "max conns 0"},
		{"replica header without its field", func(c *Config) { c.Fields = Fields{} }, "needs Fields.Replica"},
		{"field outside the prefix", func(c *Config) { c.Fields.Hop = "X-Hop" }, "starting with the prefix"},
		{"no private fields, no replica header", func(c *Config) { c.Fields, c.ReplicaHeader = Fields{}, false }, ""},
		{"zero body timeout", func(c *Config) { c.BodyTimeout = 0 }, "body timeout 0s"},
		{"zero write timeout", func(c *Config) { c.WriteTimeout = 0 }, "write timeout 0s"},
		{"negative body buffer", func(c *Config) { c.BodyBuffer = -1 }, "body buffer -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Upstream = "127.0.0.1:3000"
			c.Fields, c.ReplicaHeader = testFields, true
			tt.tune(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}
