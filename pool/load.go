package pool

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// LoadHeader carries the answering replica's load on every forwarded
// response, so the forwarding replica's table is fresh between polls.
const LoadHeader = "X-Mitosis-Load"

// maxLoadLen bounds what ParseLoad reads: the header comes from the network.
// The current encoding is under 80 bytes; 512 leaves room for future keys.
const maxLoadLen = 512

// Load is the compact load figure carried in LoadHeader.
type Load struct {
	Inflight, Queued, Capacity int
	// EWMA is the app latency; it travels in whole microseconds.
	EWMA time.Duration
	// Draining means the replica is shutting down: stop forwarding to it.
	Draining bool
}

// AppendLoad appends the header value of l to dst, as
// "i=3;q=0;c=8;l=12500;d=0" (l is the EWMA latency in µs, d is 0 or 1). It
// allocates only if dst lacks capacity, so callers can reuse a buffer.
// Negative figures are written as 0.
func AppendLoad(dst []byte, l Load) []byte {
	dst = append(dst, "i="...)
	dst = strconv.AppendInt(dst, int64(max(l.Inflight, 0)), 10)
	dst = append(dst, ";q="...)
	dst = strconv.AppendInt(dst, int64(max(l.Queued, 0)), 10)
	dst = append(dst, ";c="...)
	dst = strconv.AppendInt(dst, int64(max(l.Capacity, 0)), 10)
	dst = append(dst, ";l="...)
	dst = strconv.AppendInt(dst, int64(max(l.EWMA, 0)/time.Microsecond), 10)
	if l.Draining {
		return append(dst, ";d=1"...)
	}
	return append(dst, ";d=0"...)
}

// ErrBadLoad is wrapped by every ParseLoad error.
var ErrBadLoad = errors.New("bad " + LoadHeader + " value")

// ParseLoad parses a LoadHeader value written by AppendLoad. It is strict
// about what it knows — every one of i, q, c, l, d must appear exactly once
// with a non-negative decimal value (d only 0 or 1) — and ignores keys it
// does not know (with any value), so a newer replica may add figures
// without breaking older ones.
func ParseLoad(s string) (Load, error) {
	var l Load
	if len(s) > maxLoadLen {
		return Load{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadLoad, len(s), maxLoadLen)
	}
	const (
		seenI = 1 << iota
		seenQ
		seenC
		seenL
		seenD
		seenAll = seenI | seenQ | seenC | seenL | seenD
	)
	seen := 0
	// strings.Cut rather than SplitSeq: s then does not escape, so a caller
	// converting a []byte (the fast path's X-Mitosis-Load) allocates nothing.
	for rest, more := s, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ";")
		key, val, ok := strings.Cut(part, "=")
		if !ok || key == "" {
			return Load{}, fmt.Errorf("%w: field %q is not key=value", ErrBadLoad, strings.Clone(part))
		}
		var bit int
		switch key {
		case "i":
			bit = seenI
		case "q":
			bit = seenQ
		case "c":
			bit = seenC
		case "l":
			bit = seenL
		case "d":
			bit = seenD
		default:
			continue // forward compatibility
		}
		if seen&bit != 0 {
			return Load{}, fmt.Errorf("%w: key %q repeated", ErrBadLoad, strings.Clone(key))
		}
		seen |= bit
		n, err := parseCount(val)
		if err != nil {
			return Load{}, fmt.Errorf("%w: %s=%q: %w", ErrBadLoad, strings.Clone(key), strings.Clone(val), err)
		}
		switch key {
		case "i":
			l.Inflight = n
		case "q":
			l.Queued = n
		case "c":
			l.Capacity = n
		case "l":
			if int64(n) > math.MaxInt64/int64(time.Microsecond) {
				return Load{}, fmt.Errorf("%w: l=%q: latency out of range", ErrBadLoad, strings.Clone(val))
			}
			l.EWMA = time.Duration(n) * time.Microsecond
		case "d":
			if n > 1 {
				return Load{}, fmt.Errorf("%w: d=%q: must be 0 or 1", ErrBadLoad, strings.Clone(val))
			}
			l.Draining = n == 1
		}
	}
	if seen != seenAll {
		return Load{}, fmt.Errorf("%w: %q lacks one of i, q, c, l, d", ErrBadLoad, strings.Clone(s))
	}
	return l, nil
}

// parseCount accepts only plain decimal digits: no sign, no spaces, no
// underscores (strconv.Atoi alone would take "+3").
func parseCount(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a non-negative decimal")
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("out of range: %w", err)
	}
	return n, nil
}
