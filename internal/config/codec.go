package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// setting binds one MITOSIS_* variable (and its mirror flag) to a field.
type setting struct {
	env  string
	help string
	// kind names the value in usage ("int", "duration"...); "bool" flags
	// also work bare (-dry-run means -dry-run=true).
	kind string
	// set parses v into c; the error says what is accepted (the caller adds
	// the variable and the value).
	set func(c *Config, v string) error
	get func(c *Config) string
}

func (s setting) flagName() string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.env, "MITOSIS_")), "_", "-")
}

func str(p func(*Config) *string) codec {
	return codec{func(c *Config, v string) error { *p(c) = v; return nil },
		func(c *Config) string { return *p(c) }, "string"}
}

func integer(p func(*Config) *int) codec {
	return codec{func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be a whole number")
		}
		*p(c) = n
		return nil
	},
		func(c *Config) string { return strconv.Itoa(*p(c)) }, "int"}
}

func float(p func(*Config) *float64) codec {
	return codec{func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return errors.New("must be a number")
		}
		*p(c) = f
		return nil
	},
		func(c *Config) string { return strconv.FormatFloat(*p(c), 'g', -1, 64) }, "number"}
}

func duration(p func(*Config) *time.Duration) codec {
	return codec{func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be a Go duration such as 250ms, 5s or 1m30s")
		}
		*p(c) = d
		return nil
	},
		func(c *Config) string { return p(c).String() }, "duration"}
}

func boolean(p func(*Config) *bool) codec {
	return codec{func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be true or false")
		}
		*p(c) = b
		return nil
	},
		func(c *Config) string { return strconv.FormatBool(*p(c)) }, "bool"}
}

func oneOf(p func(*Config) *string, allowed ...string) codec {
	return codec{func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*p(c) = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	},
		func(c *Config) string { return *p(c) }, strings.Join(allowed, "|")}
}

// codec parses a value into a field and prints it back; kind names the
// value for usage.
type codec struct {
	set  func(c *Config, v string) error
	get  func(c *Config) string
	kind string
}

func mk(env, help string, cd codec) setting {
	return setting{env: env, help: help, kind: cd.kind, set: cd.set, get: cd.get}
}
