package pool

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePeers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		errPart string // substring the error must contain ("" = no error)
	}{
		{"empty", "", nil, ""},
		{"one", "10.0.0.1:9090", []string{"10.0.0.1:9090"}, ""},
		{"sorted dedup spaces", " b:9090, a:9090 ,b:9090,", []string{"a:9090", "b:9090"}, ""},
		{"ipv6", "[::1]:9090", []string{"[::1]:9090"}, ""},
		{"no port", "a:9090,web", nil, `peer 2 "web"`},
		{"empty host", ":9090", nil, `peer 1 ":9090": want host:port: empty host`},
		{"port zero", "a:0", nil, `port "0"`},
		{"port too big", "a:70000", nil, `port "70000"`},
		{"named port", "a:http", nil, `port "http"`},
		{"url", "http://a:9090", nil, `peer 1 "http://a:9090"`},
		{"bare ipv6", "::1:9090", nil, `peer 1 "::1:9090"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePeers(tt.in)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("ParsePeers(%q) error = %v, want one containing %q", tt.in, err, tt.errPart)
				}
				if !errors.Is(err, ErrBadAddr) {
					t.Fatalf("error %v does not wrap ErrBadAddr", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePeers(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParsePeers(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	d, err := NewStatic([]string{"b:9090", "a:9090", "b:9090"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{AdminAddr: "a:9090", Source: SourceStatic}, {AdminAddr: "b:9090", Source: SourceStatic}}
	if !slices.Equal(got, want) {
		t.Fatalf("Discover = %v, want %v", got, want)
	}
	got[0].AdminAddr = "changed"
	if again, _ := d.Discover(context.Background()); again[0].AdminAddr != "a:9090" {
		t.Fatal("Discover returned its internal slice")
	}
	if _, err := NewStatic([]string{"a:9090", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("NewStatic with a bad address: err = %v", err)
	}
}

type fakeResolver struct {
	hosts map[string][]string
	err   error
	asked []string
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.asked = append(f.asked, host)
	if f.err != nil {
		return nil, f.err
	}
	return f.hosts[host], nil
}

func TestDNS(t *testing.T) {
	r := &fakeResolver{hosts: map[string][]string{
		"tasks.web": {"10.0.0.7", "10.0.0.3", "10.0.0.7", "fd00::1"},
	}}
	d := NewDNS("tasks.web", 9090, r)
	got, err := d.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{AdminAddr: "10.0.0.3:9090", Source: SourceDNS},
		{AdminAddr: "10.0.0.7:9090", Source: SourceDNS},
		{AdminAddr: "[fd00::1]:9090", Source: SourceDNS},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Discover = %v, want %v", got, want)
	}
	if !slices.Equal(r.asked, []string{"tasks.web"}) {
		t.Fatalf("resolver asked %v", r.asked)
	}

	boom := errors.New("no such host")
	r.err = boom
	if _, err := d.Discover(context.Background()); !errors.Is(err, boom) || !strings.Contains(err.Error(), "tasks.web") {
		t.Fatalf("Discover error = %v, want it to wrap the resolver error and name the host", err)
	}
}

func TestDiscoveryFunc(t *testing.T) {
	var d Discovery = DiscoveryFunc(func(context.Context) ([]Target, error) {
		return []Target{{AdminAddr: "127.0.0.1:9091", Source: SourceProcess}}, nil
	})
	got, err := d.Discover(context.Background())
	if err != nil || len(got) != 1 || got[0].Source != SourceProcess {
		t.Fatalf("Discover = %v, %v", got, err)
	}
}

func TestResolveMode(t *testing.T) {
	tests := []struct {
		mode          string
		peers, svc    bool
		want, errPart string
	}{
		{"auto", true, true, ModeStatic, ""},
		{"", false, true, ModeDNS, ""},
		{"auto", false, false, ModeProcess, ""},
		{"swarm", false, false, ModeSwarm, ""},
		{"docker", true, true, ModeDocker, ""},
		{"dns", true, false, ModeDNS, ""},
		{"consul", false, false, "", `MITOSIS_DISCOVERY = "consul"`},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.want, func(t *testing.T) {
			got, err := ResolveMode(tt.mode, tt.peers, tt.svc)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("err = %v, want %q", err, tt.errPart)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ResolveMode = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
