package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Args are the command-line arguments that are not settings.
type Args struct {
	// Words are the bare words before "--", in order, wherever they stand
	// among the flags (mitosis -max-inflight 7 config): subcommands.
	Words []string
	// Command is everything after the first "--": the app to run.
	Command []string
}

// Load reads the MITOSIS_* variables of environ, then the flags in args
// (flags win), and validates the result. It returns the config, the
// command after "--", warnings (unknown MITOSIS_* variables, settings that
// work against each other) and every problem found, joined; a bare word
// outside the command is a problem (see Parse for subcommands).
func Load(environ []string, args []string) (c Config, rest []string, warnings []string, err error) {
	c, a, warnings, err := Parse(environ, args, nil)
	for _, w := range a.Words {
		err = errors.Join(err, fmt.Errorf("unexpected argument %q (a command to run goes after --)", w))
	}
	return c, a.Command, warnings, err
}

// Parse is Load for a command line that may also hold subcommand words
// and flags of the caller's own: extra (nil for none) adds them to the
// flag set before parsing. Boolean settings work as bare flags
// (-dry-run); an unknown flag is reported with the closest known one.
func Parse(environ []string, args []string, extra func(fs *flag.FlagSet)) (c Config, a Args, warnings []string, err error) {
	c = DefaultConfig()
	var errs []error
	known := map[string]bool{}
	for _, s := range settings {
		known[s.env] = true
	}
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "MITOSIS_") {
			continue
		}
		if !known[k] {
			warnings = append(warnings, unknownVar(k))
			continue
		}
		env[k] = v
	}
	sort.Strings(warnings)
	for _, s := range settings {
		if v, ok := env[s.env]; ok {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, v, err))
			}
		}
	}

	fs := flag.NewFlagSet("mitosis", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range settings {
		set := func(v string) error {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("-%s=%q: %w", s.flagName(), v, err))
			}
			return nil
		}
		if s.kind == "bool" {
			fs.BoolFunc(s.flagName(), s.help+" ("+s.env+")", set)
		} else {
			fs.Func(s.flagName(), s.help+" ("+s.env+")", set)
		}
	}
	if extra != nil {
		extra(fs)
	}
	// The flag package stops at the first bare word: take it, and go on
	// with the rest, so words and flags may come in any order before "--".
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			errs = append(errs, flagError(err))
			break
		}
		left := fs.Args()
		if k := len(rest) - len(left); k > 0 && rest[k-1] == "--" {
			a.Command = left
			break
		}
		if len(left) == 0 {
			break
		}
		a.Words = append(a.Words, left[0])
		rest = left[1:]
	}
	// A short sync interval alone must not trip over the default poll
	// timeout: unless set, the timeout follows the interval.
	if _, set := env["MITOSIS_HEALTH_TIMEOUT"]; !set && !flagSet(fs, "health-timeout") && c.Health.Timeout > c.Health.Interval/2 {
		c.Health.Timeout = c.Health.Interval / 2
	}
	if c.ClusterTokenFile != "" {
		errs = append(errs, c.readTokenFile())
	}
	// Validate even after parse errors: every problem is reported at once
	// (a field that failed to parse keeps its default and passes).
	errs = append(errs, c.Validate())
	warnings = append(warnings, c.Warnings()...)
	return c, a, warnings, errors.Join(errs...)
}

// flagError names the closest known flag when the flag package did not
// know one.
func flagError(err error) error {
	const undefined = "flag provided but not defined: -"
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, undefined)
	if !ok {
		return err
	}
	best, bestD := "", 1<<30
	for _, s := range settings {
		if d := EditDistance(name, s.flagName()); d < bestD {
			best, bestD = s.flagName(), d
		}
	}
	if bestD <= 3 {
		return fmt.Errorf("unknown flag -%s (did you mean -%s?)", name, best)
	}
	return fmt.Errorf("unknown flag -%s (mitosis --help lists them)", name)
}

// Usage writes every flag, one paragraph each: the flag and its value,
// the variable it mirrors and its default, and what it does.
func Usage(w io.Writer) {
	d := DefaultConfig()
	for _, s := range settings {
		def := s.get(&d)
		switch {
		case s.env == "MITOSIS_REPLICA_ID":
			def = "the host name, plus -pid outside containers"
		case def == "":
			def = `""`
		}
		arg := " " + s.kind
		if s.kind == "bool" {
			arg = "[=false]"
		}
		fmt.Fprintf(w, "  -%s%s\n      %s, default %s\n      %s\n", s.flagName(), arg, s.env, def, s.help)
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// unknownVar names an unknown variable and the closest known one.
func unknownVar(k string) string {
	best, bestD := "", 1<<30
	for _, s := range settings {
		if d := EditDistance(k, s.env); d < bestD {
			best, bestD = s.env, d
		}
	}
	if bestD <= 3 {
		return fmt.Sprintf("unknown variable %s (did you mean %s?)", k, best)
	}
	return fmt.Sprintf("unknown variable %s (see `mitosis config` for the known ones)", k)
}

// EditDistance is the Levenshtein distance of a and b, for "did you mean"
// hints.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Problems flattens err (as Load returns it) into one message per problem,
// in order, so a caller can print each on a line of its own.
func Problems(err error) []string {
	type multi interface{ Unwrap() []error }
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if m, ok := e.(multi); ok {
			for _, x := range m.Unwrap() {
				walk(x)
			}
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	return out
}

// readTokenFile reads the cluster token from ClusterTokenFile (surrounding
// white space removed).
func (c *Config) readTokenFile() error {
	if c.Balancer.ClusterToken != "" {
		return fmt.Errorf("MITOSIS_CLUSTER_TOKEN_FILE=%q: set it or MITOSIS_CLUSTER_TOKEN, not both", c.ClusterTokenFile)
	}
	b, err := os.ReadFile(c.ClusterTokenFile)
	if err != nil {
		return fmt.Errorf("MITOSIS_CLUSTER_TOKEN_FILE=%q: %w", c.ClusterTokenFile, err)
	}
	if c.Balancer.ClusterToken = strings.TrimSpace(string(b)); c.Balancer.ClusterToken == "" {
		return fmt.Errorf("MITOSIS_CLUSTER_TOKEN_FILE=%q: the file is empty", c.ClusterTokenFile)
	}
	return nil
}
