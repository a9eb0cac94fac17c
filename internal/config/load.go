package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Load reads the MITOSIS_* variables of environ, then the flags in args
// (flags win), and validates the result. It returns the config, the arguments after the
// flags (the app command after --), warnings (unknown MITOSIS_* variables)
// and every problem found, joined.
func Load(environ []string, args []string) (c Config, rest []string, warnings []string, err error) {
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
		s := s
		fs.Func(s.flagName(), s.help+" ("+s.env+")", func(v string) error {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("-%s=%q: %w", s.flagName(), v, err))
			}
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		errs = append(errs, err)
	}
	rest = fs.Args()
	// A short sync interval alone must not trip over the default poll
	// timeout: unless set, the timeout follows the interval.
	if _, set := env["MITOSIS_HEALTH_TIMEOUT"]; !set && !flagSet(fs, "health-timeout") && c.Health.Timeout > c.Health.Interval/2 {
		c.Health.Timeout = c.Health.Interval / 2
	}
	// Validate even after parse errors: every problem is reported at once
	// (a field that failed to parse keeps its default and passes).
	errs = append(errs, c.Validate())
	return c, rest, warnings, errors.Join(errs...)
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
		if d := editDistance(k, s.env); d < bestD {
			best, bestD = s.env, d
		}
	}
	if bestD <= 3 {
		return fmt.Sprintf("unknown variable %s (did you mean %s?)", k, best)
	}
	return fmt.Sprintf("unknown variable %s (see `mitosis config` for the known ones)", k)
}

func editDistance(a, b string) int {
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
