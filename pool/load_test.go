package pool

import (
	"errors"
	"testing"
	"time"
)

func TestLoadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Load
		text string
	}{
		{"zero", Load{}, "i=0;q=0;c=0;l=0;d=0"},
		{"example", Load{Inflight: 3, Capacity: 8, EWMA: 12500 * time.Microsecond}, "i=3;q=0;c=8;l=12500;d=0"},
		{"draining", Load{Inflight: 1, Queued: 20, Capacity: 4, EWMA: time.Second, Draining: true}, "i=1;q=20;c=4;l=1000000;d=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendLoad(nil, tt.in))
			if got != tt.text {
				t.Fatalf("AppendLoad = %q, want %q", got, tt.text)
			}
			back, err := ParseLoad(got)
			if err != nil {
				t.Fatalf("ParseLoad(%q): %v", got, err)
			}
			if back != tt.in {
				t.Fatalf("round trip = %+v, want %+v", back, tt.in)
			}
		})
	}
}

func TestAppendLoadEdges(t *testing.T) {
	// Sub-microsecond latency truncates; negatives are written as 0.
	got := string(AppendLoad(nil, Load{Inflight: -1, EWMA: 1500 * time.Nanosecond}))
	if got != "i=0;q=0;c=0;l=1;d=0" {
		t.Fatalf("AppendLoad = %q", got)
	}
	buf := make([]byte, 0, 64)
	l := Load{Inflight: 123, Queued: 45, Capacity: 678, EWMA: 9 * time.Millisecond, Draining: true}
	allocs := testing.AllocsPerRun(1000, func() { buf = AppendLoad(buf[:0], l) })
	if allocs != 0 {
		t.Fatalf("AppendLoad into a large enough buffer allocates %.1f times", allocs)
	}
}

func TestParseLoad(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Load
		wantErr bool
	}{
		{"reordered", "d=1;l=2;c=3;q=4;i=5", Load{Inflight: 5, Queued: 4, Capacity: 3, EWMA: 2 * time.Microsecond, Draining: true}, false},
		{"unknown keys ignored", "i=1;q=0;c=2;l=0;d=0;rps=12.5;x=", Load{Inflight: 1, Capacity: 2}, false},
		{"empty", "", Load{}, true},
		{"missing key", "i=1;q=0;c=2;l=0", Load{}, true},
		{"repeated key", "i=1;i=2;q=0;c=2;l=0;d=0", Load{}, true},
		{"no equals", "i=1;q;c=2;l=0;d=0", Load{}, true},
		{"empty field", "i=1;;q=0;c=2;l=0;d=0", Load{}, true},
		{"trailing semicolon", "i=1;q=0;c=2;l=0;d=0;", Load{}, true},
		{"empty key", "=3;i=1;q=0;c=2;l=0;d=0", Load{}, true},
		{"negative", "i=-1;q=0;c=2;l=0;d=0", Load{}, true},
		{"plus sign", "i=+1;q=0;c=2;l=0;d=0", Load{}, true},
		{"space", "i= 1;q=0;c=2;l=0;d=0", Load{}, true},
		{"empty value", "i=;q=0;c=2;l=0;d=0", Load{}, true},
		{"float", "i=1.5;q=0;c=2;l=0;d=0", Load{}, true},
		{"overflow int", "i=99999999999999999999;q=0;c=2;l=0;d=0", Load{}, true},
		{"latency overflow", "i=1;q=0;c=2;l=9223372036854776;d=0", Load{}, true},
		{"draining 2", "i=1;q=0;c=2;l=0;d=2", Load{}, true},
		{"too long", "i=1;q=0;c=2;l=0;d=0;x=" + string(make([]byte, 600)), Load{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLoad(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseLoad(%q) = %+v, want an error", tt.in, got)
				}
				if !errors.Is(err, ErrBadLoad) {
					t.Fatalf("error %v does not wrap ErrBadLoad", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLoad(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseLoad(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseLoad checks that ParseLoad never panics and that whatever it
// accepts survives a round trip through AppendLoad unchanged.
func FuzzParseLoad(f *testing.F) {
	for _, s := range []string{
		"i=3;q=0;c=8;l=12500;d=0",
		"d=1;l=2;c=3;q=4;i=5",
		"i=1;q=0;c=2;l=0;d=0;future=x",
		"i=;q",
		"",
		"i=9223372036854775807;q=0;c=0;l=9223372036854;d=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLoad(s)
		if err != nil {
			return
		}
		if l.Inflight < 0 || l.Queued < 0 || l.Capacity < 0 || l.EWMA < 0 {
			t.Fatalf("ParseLoad(%q) accepted negative figures: %+v", s, l)
		}
		text := AppendLoad(nil, l)
		back, err := ParseLoad(string(text))
		if err != nil {
			t.Fatalf("ParseLoad(AppendLoad(%+v)) = %v", l, err)
		}
		if back != l {
			t.Fatalf("round trip of %q: %+v != %+v", s, back, l)
		}
	})
}

// TestParseLoadBytesNoAlloc: the fast path parses each forwarded answer's
// X-Mitosis-Load from a []byte; the conversion must not allocate.
func TestParseLoadBytesNoAlloc(t *testing.T) {
	b := []byte("i=12;q=0;c=100;l=2345;d=0")
	var l Load
	allocs := testing.AllocsPerRun(100, func() {
		l, _ = ParseLoad(string(b))
	})
	if allocs != 0 || l.Capacity != 100 {
		t.Errorf("ParseLoad(string(b)): %.1f allocations, load %+v; want 0 and c=100", allocs, l)
	}
}
