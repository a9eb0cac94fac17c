package config

import (
	"strings"
	"testing"
)

func TestSubcommand(t *testing.T) {
	known := []string{"config", "healthcheck", "version", "help"}
	misplaced := map[string]string{"guard": "guard comes first"}
	tests := []struct {
		words   []string
		want    string
		wantErr string
	}{
		{nil, "", ""},
		{[]string{"config"}, "config", ""},
		{[]string{"confg"}, "", `did you mean "config"`},
		{[]string{"serve"}, "", "put it after --: mitosis -- serve"},
		{[]string{"false"}, "", "-dry-run=false"},
		{[]string{"config", "version"}, "", "one command at a time"},
		{[]string{"guard"}, "", "guard comes first"},
	}
	for _, tt := range tests {
		got, err := Subcommand(tt.words, known, misplaced)
		if got != tt.want {
			t.Errorf("Subcommand(%q) = %q, want %q", tt.words, got, tt.want)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Subcommand(%q): unexpected error %v", tt.words, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Subcommand(%q) error = %v, want it to contain %q", tt.words, err, tt.wantErr)
		}
	}
}
