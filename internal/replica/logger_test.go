package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/config"
)

// TestNewLoggerDurations: JSON logs give durations as strings ("2s"), as
// the configuration writes them, not as nanoseconds; text logs too.
func TestNewLoggerDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		c := config.DefaultConfig()
		c.ReplicaID, c.LogFormat = "r1", format
		var buf bytes.Buffer
		NewLogger(c, &buf).Info("signal received: draining", "delay", 2*time.Second, "timeout", 1500*time.Millisecond)
		if format == "text" {
			if s := buf.String(); !bytes.Contains(buf.Bytes(), []byte("delay=2s timeout=1.5s")) {
				t.Errorf("text log %q", s)
			}
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		if line["delay"] != "2s" || line["timeout"] != "1.5s" || line["replica"] != "r1" {
			t.Errorf("json log %s: want delay \"2s\", timeout \"1.5s\", replica r1", buf.String())
		}
	}
}

// TestStopGraceProblem: a drain timeout at or above the platform's stop
// grace period is reported at start-up, naming both.
func TestStopGraceProblem(t *testing.T) {
	for _, tc := range []struct {
		drain, grace time.Duration
		bad          bool
	}{
		{8 * time.Second, 10 * time.Second, false},
		{10 * time.Second, 10 * time.Second, true},
		{30 * time.Second, 10 * time.Second, true},
		{8 * time.Second, 40 * time.Second, false},
	} {
		msg := stopGraceProblem(tc.drain, tc.grace)
		if (msg != "") != tc.bad {
			t.Errorf("drain %s, grace %s: %q", tc.drain, tc.grace, msg)
		}
		if tc.bad && (!strings.Contains(msg, "MITOSIS_DRAIN_TIMEOUT="+tc.drain.String()) || !strings.Contains(msg, tc.grace.String())) {
			t.Errorf("%q does not name both settings", msg)
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	checkStopGrace(context.Background(), 12*time.Second, func(context.Context) (time.Duration, error) { return 10 * time.Second, nil }, log)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "stop_grace_period=10s") {
		t.Errorf("start-up check logged %q", logs.String())
	}
}
