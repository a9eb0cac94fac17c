package functions

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	tests := []struct {
		in   string
		want []Function
	}{
		{"", nil},
		{"/record=voting:1 record", []Function{{Name: "/record", Path: "/record", Image: "voting:1", Args: []string{"record"}}}},
		{" /record=voting:1  record -store http://store:8081 , /thumb;async=registry:5000/team/thumbs@sha256:" + strings.Repeat("a", 64), []Function{
			{Name: "/record", Path: "/record", Image: "voting:1", Args: []string{"record", "-store", "http://store:8081"}},
			{Name: "/thumb", Path: "/thumb", Image: "registry:5000/team/thumbs@sha256:" + strings.Repeat("a", 64), Async: true, Args: []string{}},
		}},
		{"/hello=exec:./hello -v", []Function{{Name: "/hello", Path: "/hello", Command: "./hello", Args: []string{"-v"}}}},
		{"/=exec:/bin/cat", []Function{{Name: "/", Path: "/", Command: "/bin/cat", Args: []string{}}}},
	}
	for _, tt := range tests {
		got, err := ParseRoutes(tt.in)
		if err != nil {
			t.Errorf("ParseRoutes(%q): %v", tt.in, err)
			continue
		}
		for i := range got {
			if got[i].Args == nil {
				got[i].Args = []string{}
			}
		}
		for i := range tt.want {
			if tt.want[i].Args == nil {
				tt.want[i].Args = []string{}
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRoutes(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		cfg := DefaultConfig()
		cfg.Functions = got
		if err := cfg.Validate(); err != nil {
			t.Errorf("ParseRoutes(%q): Validate: %v", tt.in, err)
		}
	}
}

func TestParseRoutesErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/record", "must be PATH[;async]=IMAGE"},
		{"record=voting:1", `path "record": must start with /`},
		{"/a/../b=voting:1", "must be clean"},
		{"/a/=voting:1", "must be clean"},
		{"/a b=voting:1", "must start with /"},
		{"/x=", "no image"},
		{"/x=exec:", "exec: needs a command"},
		{"/x=--privileged", "not an image reference"},
		{"/x=Voting:1", "not an image reference"},
		{"/x=voting:1;rm", "not an image reference"},
		{"/x;sync=voting:1", `unknown flag "sync"`},
	}
	for _, tt := range tests {
		_, err := ParseRoutes("/ok=voting:1," + tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "entry "+`"`+tt.in+`"`) {
			t.Errorf("ParseRoutes(%q) = %v, want an error naming the entry and %q", tt.in, err, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	fs, err := ParseRoutes("/a=voting:1,/a=voting:2")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Functions = fs
	cfg.Concurrency = 0
	cfg.Network = "host"
	cfg.QueueTimeout = 0
	err = cfg.Validate()
	for _, want := range []string{"defined twice", "MITOSIS_FUNCTION_CONCURRENCY=0", "MITOSIS_FUNCTION_NETWORK=host", "MITOSIS_FUNCTION_QUEUE_TIMEOUT=0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to name %q", err, want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	f, err := ParseTarget("record", "exec:./voting record")
	if err != nil || f.Command != "./voting" || f.Path != "" {
		t.Fatalf("ParseTarget = %+v, %v", f, err)
	}
	f.Async = true
	if err := f.check(); err == nil {
		t.Error("an async function without a route: no error")
	}
}
