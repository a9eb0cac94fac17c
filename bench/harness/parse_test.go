package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:19000/
  1 threads and 64 connections
BENCH requests=100000 duration_us=10000000 p50_us=500 p99_us=2500 p999_us=9000 max_us=12000 connect=0 read=2 write=0 status=3 timeout=1
`
	s, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.rps != 10000 || s.p50 != 0.5 || s.p99 != 2.5 || s.p999 != 9 || s.requests != 100000 || s.errors != 6 {
		t.Errorf("parseWrk = %+v", s)
	}
	for _, bad := range []string{"no bench line", "BENCH requests=1", "BENCH requests=x duration_us=1", "BENCH requests=1 duration_us=0 p50_us=1 p99_us=1 p999_us=1 connect=0 read=0 write=0 status=0 timeout=0"} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q) accepted it", bad)
		}
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 98765 1000 10 18446744073709551615"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.state != "S" || st.ppid != 1 || st.ticks != 7+3+2+1 || st.start != "98765" {
		t.Errorf("parseStat = %+v", st)
	}
	if _, err := parseStat([]byte("1 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

// A trimmed `go tool pprof -traces` of the local path, as pprof prints it.
const tracesSample = `File: mitosis-pprof
Build ID: 2cdce1feddedde518793ae80e735922a2470c08f
Type: cpu
Duration: 5s, Total samples = 4.79s (95.79%)
-----------+-------------------------------------------------------
     690ms   internal/runtime/syscall/linux.Syscall6
             syscall.RawSyscall6
             syscall.write
             internal/poll.(*FD).Write
             net.(*conn).Write
             net/http.checkConnErrorWriter.Write
-----------+-------------------------------------------------------
      20ms   runtime.futex
             runtime.futexsleep
             runtime.findRunnable
             runtime.schedule
-----------+-------------------------------------------------------
      10ms   runtime.mallocgc
             strings.Clone (inline)
             github.com/mitosis-run/mitosis/balancer.(*Handler).ServeHTTP
             net/http.serverHandler.ServeHTTP
-----------+-------------------------------------------------------
      30ms   runtime.mapaccess1_faststr
             net/textproto.MIMEHeader.Get
             net/http.(*conn).serve
-----------+-------------------------------------------------------
      40ms   runtime.scanobject
             runtime.gcDrain
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      1.2s   sync/atomic.AddUint64
             github.com/prometheus/client_golang/prometheus.(*histogram).Observe
             github.com/mitosis-run/mitosis/balancer.(*Handler).ServeHTTP
-----------+-------------------------------------------------------
     250us   log/slog.(*Logger).Info
             github.com/mitosis-run/mitosis/balancer.(*Handler).ServeHTTP
`

func TestClassifyTraces(t *testing.T) {
	ts := parseTraces(tracesSample)
	if len(ts) != 7 {
		t.Fatalf("parsed %d traces, want 7: %+v", len(ts), ts)
	}
	if ts[2].frames[1] != "strings.Clone" {
		t.Errorf("an (inline) frame was not read as its function: %q", ts[2].frames[1])
	}
	self, incl, total := classify(ts)
	want := map[string]time.Duration{
		catSyscallNet: 690 * time.Millisecond,
		catSyscallRT:  20 * time.Millisecond,
		catProxy:      10 * time.Millisecond,
		catHTTP:       30 * time.Millisecond,
		catRuntime:    40 * time.Millisecond,
		catMetrics:    1200 * time.Millisecond,
		catOther:      250 * time.Microsecond,
	}
	for _, s := range self {
		if s.d != want[s.name] {
			t.Errorf("%s = %s, want %s", s.name, s.d, want[s.name])
		}
	}
	if total != 690*time.Millisecond+20*time.Millisecond+10*time.Millisecond+30*time.Millisecond+40*time.Millisecond+1200*time.Millisecond+250*time.Microsecond {
		t.Errorf("total = %s", total)
	}
	if incl[0].d != 10*time.Millisecond+1200*time.Millisecond+250*time.Microsecond {
		t.Errorf("inclusive proxy = %s", incl[0].d)
	}
	if incl[1].d != 1200*time.Millisecond || incl[2].d != 250*time.Microsecond {
		t.Errorf("inclusive metrics, slog = %s, %s", incl[1].d, incl[2].d)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(options) bool
	}{
		{"defaults write BENCHMARKS.md", nil, "", func(o options) bool {
			return o.mode == "all" && o.rounds == 3 && o.duration == 10*time.Second && len(o.rates) == 2 && strings.HasSuffix(o.md, "BENCHMARKS.md") && !strings.Contains(o.md, "out")
		}},
		{"quick shortens and writes under out", []string{"-quick"}, "", func(o options) bool {
			return o.rounds == 1 && o.duration == 3*time.Second && strings.Contains(o.md, "out")
		}},
		{"quick keeps explicit rounds", []string{"-quick", "-rounds", "2"}, "", func(o options) bool { return o.rounds == 2 }},
		{"mode first", []string{"reaction", "-reaction-step", "5s"}, "", func(o options) bool { return o.mode == "reaction" && o.reactionStep == 5*time.Second }},
		{"unknown mode", []string{"fast"}, `mode = "fast"`, nil},
		{"bad rate", []string{"-rates", "5000,x"}, `-rates: "x"`, nil},
		{"port base too high", []string{"-port-base", "65530"}, "-port-base = 65530", nil},
		{"every problem at once", []string{"-rounds", "0", "-conns", "0"}, "-conns = 0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("options = %+v", o)
			}
		})
	}
}

func TestRoundOrder(t *testing.T) {
	for n := 0; n <= 8; n++ {
		for round := 1; round <= 8; round++ {
			order := roundOrder(n, round)
			seen := make([]bool, n)
			for _, i := range order {
				if i < 0 || i >= n || seen[i] {
					t.Fatalf("roundOrder(%d, %d) = %v: not a permutation", n, round, order)
				}
				seen[i] = true
			}
			if len(order) != n {
				t.Fatalf("roundOrder(%d, %d) = %v: %d targets", n, round, order, len(order))
			}
			if n > 0 && order[0] != (round-1)%n {
				t.Errorf("roundOrder(%d, %d) starts at %d, want %d", n, round, order[0], (round-1)%n)
			}
		}
	}
	// Seven targets (the bench's): in rounds 1-6 no target follows the
	// same one twice within a round. Rotation failed this at round 2.
	before := map[[2]int]int{}
	for round := 1; round <= 6; round++ {
		order := roundOrder(7, round)
		for i := 1; i < len(order); i++ {
			pair := [2]int{order[i-1], order[i]}
			if r, ok := before[pair]; ok {
				t.Errorf("round %d: %d follows %d again (as in round %d)", round, order[i], order[i-1], r)
			}
			before[pair] = round
		}
	}
	if got := fmt.Sprint(roundOrder(7, 2)); got != "[1 3 5 0 2 4 6]" {
		t.Errorf("roundOrder(7, 2) = %s", got)
	}
	if got := fmt.Sprint(roundOrder(4, 2)); got != "[1 0 3 2]" {
		t.Errorf("roundOrder(4, 2) = %s (steps coprime with 4 are 1 and 3)", got)
	}
}

func TestSecondProxy(t *testing.T) {
	p99s := func(v ...float64) []sample {
		ss := make([]sample, len(v))
		for i, x := range v {
			ss[i].p99 = x
		}
		return ss
	}
	l := &loopResults{
		closed: map[string][]sample{
			"mitosis local": p99s(4, 5, 6), "mitosis forward": p99s(6, 7.5, 9),
			"nginx": p99s(4), "nginx chain": p99s(4.4),
		},
		open: map[string]map[float64][]sample{
			"mitosis local":   {5000: p99s(2), 10000: p99s(2)},
			"mitosis forward": {5000: p99s(2.2), 10000: p99s(5)},
			"nginx":           {5000: p99s(2), 10000: p99s(3)},
			"nginx chain":     {5000: p99s(1.5), 10000: p99s(0)},
		},
	}
	got := l.secondProxy()
	for _, want := range []string{
		"the forward hop added +50% to the mitosis local path's p99 in the closed loop, and a second nginx (nginx chain) added +10% to nginx's.",
		"At 5000 req/s: forward +10%, nginx chain -25%. At 10000 req/s: forward +150%, nginx chain n/a.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("secondProxy() = %q, want it to contain %q", got, want)
		}
	}
	delete(l.closed, "nginx chain")
	if got := l.secondProxy(); got != "" {
		t.Errorf("without the nginx chain secondProxy() = %q, want empty", got)
	}
}

func TestChecks(t *testing.T) {
	mk := func(cs ...string) []sample {
		ss := make([]sample, len(cs))
		for i, c := range cs {
			ss[i].check = c
		}
		return ss
	}
	tests := []struct {
		ss   []sample
		want string
	}{
		{mk("", ""), ""},
		{mk("every request forwarded", "every request forwarded"), "every request forwarded"},
		{mk("only 98.2% forwarded", "every request forwarded", "every request forwarded"),
			"only 98.2% forwarded (1 of 3 rounds); every request forwarded (2 of 3 rounds)"},
	}
	for _, tt := range tests {
		if got := checks(tt.ss); got != tt.want {
			t.Errorf("checks = %q, want %q", got, tt.want)
		}
	}
}
