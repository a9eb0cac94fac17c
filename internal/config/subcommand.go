package config

import (
	"errors"
	"fmt"
	"slices"
)

// Subcommand picks the subcommand among the bare words of a command line
// (Args.Words): at most one, and one of known. A word in misplaced (a
// subcommand that must come first, say) gets its message; any other
// unknown word gets the closest known one and the reminder that a program
// to run goes after --.
func Subcommand(words, known []string, misplaced map[string]string) (string, error) {
	if len(words) == 0 {
		return "", nil
	}
	for _, w := range words {
		if msg, ok := misplaced[w]; ok {
			return "", errors.New(msg)
		}
		if !slices.Contains(known, w) {
			return "", unknownWord(w, known)
		}
	}
	if len(words) > 1 {
		return "", fmt.Errorf("one command at a time, not %q", words)
	}
	return words[0], nil
}

func unknownWord(w string, known []string) error {
	hint := ""
	best, bestD := "", 1<<30
	for _, s := range known {
		if d := EditDistance(w, s); d < bestD {
			best, bestD = s, d
		}
	}
	switch {
	case bestD <= 2:
		hint = fmt.Sprintf(" (did you mean %q?)", best)
	case w == "true" || w == "false":
		hint = " (a boolean flag takes its value with =, as in -dry-run=false)"
	}
	return fmt.Errorf("unknown command %q%s; to run a program, put it after --: mitosis -- %s", w, hint, w)
}
