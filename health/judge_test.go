package health

import (
	"errors"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestJudge(t *testing.T) {
	errPoll := errors.New("connection refused")
	okState := pool.State{
		ID: "r7", PublicPort: 8080, Inflight: 3, Queued: 1, Capacity: 8, QueueMax: 64,
		RPS: 12.5, Shed: 4, CanScale: true,
		LatencyMS: pool.Latency{EWMA: 12.5, P95: 40},
	}
	base := pool.Member{Key: "10.0.0.7:9090", AdminAddr: "10.0.0.7:9090", Source: "dns"}
	with := func(state pool.MemberState, fails int) pool.Member {
		m := base
		m.State, m.Fails = state, fails
		return m
	}
	readyFrom := func(fails int) pool.Member {
		m := base
		m.ID, m.Addr = "r7", "10.0.0.7:8080"
		m.State = pool.StateReady
		m.Inflight, m.Queued, m.Capacity, m.QueueMax = 3, 1, 8, 64
		m.RPS, m.Shed, m.CanScale = 12.5, 4, true
		m.LatencyEWMA, m.LatencyP95 = 12500*time.Microsecond, 40*time.Millisecond
		m.Updated = t0
		m.Fails = fails
		return m
	}
	draining := readyFrom(0)
	draining.State = pool.StateDraining
	drainingState := okState
	drainingState.Draining = true

	tests := []struct {
		name      string
		m         pool.Member
		st        pool.State
		err       error
		threshold int
		want      pool.Member
	}{
		{"joining success → ready", with(pool.StateJoining, 0), okState, nil, 3, readyFrom(0)},
		{"down back after one success", with(pool.StateDown, 7), okState, nil, 3, readyFrom(0)},
		{"success resets fails", with(pool.StateReady, 2), okState, nil, 3, readyFrom(0)},
		{"draining reported → draining", with(pool.StateReady, 0), drainingState, nil, 3, draining},
		{"joining first failure stays joining", with(pool.StateJoining, 0), pool.State{}, errPoll, 3, with(pool.StateJoining, 1)},
		{"ready second failure stays ready", with(pool.StateReady, 1), pool.State{}, errPoll, 3, with(pool.StateReady, 2)},
		{"ready third failure → down", with(pool.StateReady, 2), pool.State{}, errPoll, 3, with(pool.StateDown, 3)},
		{"joining at threshold → down", with(pool.StateJoining, 2), pool.State{}, errPoll, 3, with(pool.StateDown, 3)},
		{"draining at threshold → down", with(pool.StateDraining, 0), pool.State{}, errPoll, 1, with(pool.StateDown, 1)},
		{"down stays down", with(pool.StateDown, 0), pool.State{}, errPoll, 3, with(pool.StateDown, 1)},
		{"threshold 0 counts as 1", with(pool.StateReady, 0), pool.State{}, errPoll, 0, with(pool.StateDown, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Judge(tt.m, tt.st, tt.err, t0, tt.threshold)
			if got != tt.want {
				t.Fatalf("Judge =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestJudgeAddr(t *testing.T) {
	tests := []struct {
		name string
		m    pool.Member
		want string
	}{
		{"ipv4", pool.Member{Key: "10.0.0.1:9090", AdminAddr: "10.0.0.1:9090"}, "10.0.0.1:8081"},
		{"ipv6", pool.Member{Key: "[fd00::1]:9090", AdminAddr: "[fd00::1]:9090"}, "[fd00::1]:8081"},
		{"name, admin from key", pool.Member{Key: "web-2:9090"}, "web-2:8081"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Judge(tt.m, pool.State{ID: "x", PublicPort: 8081}, nil, t0, 3)
			if got.Addr != tt.want {
				t.Fatalf("Addr = %q, want %q", got.Addr, tt.want)
			}
		})
	}
}
