package replica

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/config"
)

func TestGuardAddress(t *testing.T) {
	const noSocket, withSocket = false, true
	tests := []struct {
		driver, guard string
		socket        bool
		want          string
	}{
		{"swarm", "auto", noSocket, "tasks.guard:7070"},
		{"swarm", "auto", withSocket, ""}, // an old stack with the socket keeps scaling directly
		{"swarm", "off", noSocket, ""},
		{"swarm", "guard.example:7171", withSocket, "guard.example:7171"},
		{"docker", "guard.example:7171", noSocket, ""},
		{"process", "auto", noSocket, ""},
		{"auto", "auto", noSocket, ""},
	}
	for _, tt := range tests {
		c := config.DefaultConfig()
		c.Driver, c.Guard = tt.driver, tt.guard
		if got := guardAddress(c, tt.socket); got != tt.want {
			t.Errorf("guardAddress(driver %s, guard %s, socket %t) = %q, want %q", tt.driver, tt.guard, tt.socket, got, tt.want)
		}
	}
}

// TestPlatformThroughTheGuard: the swarm driver with a guard opens no
// Docker engine and finds siblings by DNS; a missing secret stops
// start-up with a line naming the variable.
func TestPlatformThroughTheGuard(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.DefaultConfig()
	c.Driver, c.Guard, c.GuardTokenFile, c.Service, c.Discovery = "swarm", "127.0.0.1:1", tok, "app_web", "dns"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	p, err := newPlatform(ctx, c, nil, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close(ctx)
	if p.kind != "swarm" || p.driver == nil || p.discoveryMode != "dns" {
		t.Fatalf("kind %s driver %v discovery %s", p.kind, p.driver, p.discoveryMode)
	}
	c.GuardTokenFile = filepath.Join(dir, "missing")
	if _, err := newPlatform(ctx, c, nil, nil, nil, log); err == nil || !strings.Contains(err.Error(), "MITOSIS_GUARD_TOKEN_FILE="+c.GuardTokenFile) {
		t.Fatalf("missing secret: %v", err)
	}
}

// TestWatchCanActPokesWhenBack: when the guard (or daemon) answers again,
// the autoscale loop is poked, so a pending scale does not wait a tick.
func TestWatchCanActPokesWhenBack(t *testing.T) {
	p := &platform{}
	poked := make(chan struct{}, 1)
	poke := func() {
		select {
		case poked <- struct{}{}:
		default:
		}
	}
	p.poke.Store(&poke)
	var up atomic.Bool
	checked := make(chan bool, 100)
	canAct := func(context.Context) bool {
		ok := up.Load()
		select {
		case checked <- ok:
		default:
		}
		return ok
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.watchCanAct(ctx, canAct, 5*time.Millisecond, slog.New(slog.DiscardHandler))
	if <-checked {
		t.Fatal("first check saw the guard up")
	}
	up.Store(true)
	select {
	case <-poked:
	case <-time.After(10 * time.Second):
		t.Fatal("no poke after the guard came back")
	}
	if !p.canScale.Load() {
		t.Fatal("canScale still false")
	}
}
