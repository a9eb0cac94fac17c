package guard

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	c, err := FromEnv([]string{
		"MITOSIS_GUARD_LISTEN=:7171", "MITOSIS_GUARD_IMAGES= fn:1 , ,reg/x@sha256:ab ", "MITOSIS_GUARD_NETWORK=app_fn",
		"MITOSIS_GUARD_RUN_TIMEOUT=30s", "MITOSIS_GUARD_RUNS=0", "MITOSIS_LOG_FORMAT=json", "MITOSIS_MAX_REPLICAS=oops",
		"OTHER=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7171" || !reflect.DeepEqual(c.Images, []string{"fn:1", "reg/x@sha256:ab"}) || c.Network != "app_fn" ||
		c.RunTimeout != 30*time.Second || c.Runs != 0 || c.LogFormat != "json" {
		t.Fatalf("config = %+v", c)
	}
	if d, err := FromEnv(nil); err != nil || !reflect.DeepEqual(d, DefaultConfig()) {
		t.Fatalf("no variables: %+v, %v; want the defaults", d, err)
	}
}

// TestFromEnvErrors: every bad value is reported at once, each naming its
// variable and value.
func TestFromEnvErrors(t *testing.T) {
	_, err := FromEnv([]string{
		"MITOSIS_GUARD_LISTEN=7070", "MITOSIS_GUARD_RUNS=many", "MITOSIS_GUARD_RUN_TIMEOUT=0s",
		"MITOSIS_GUARD_NETWORK=host", "MITOSIS_GUARD_LABEL==x", "MITOSIS_GUARD_SCALES_PER_MINUTE=0",
		"MITOSIS_GUARD_CACHE_TTL=1h", "MITOSIS_LOG_LEVEL=loud", "MITOSIS_GUARD_HARD_CAP=0",
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`MITOSIS_GUARD_LISTEN="7070"`, `MITOSIS_GUARD_RUNS="many"`, "MITOSIS_GUARD_RUN_TIMEOUT=0s", `MITOSIS_GUARD_NETWORK="host"`,
		`MITOSIS_GUARD_LABEL="=x"`, "MITOSIS_GUARD_SCALES_PER_MINUTE=0", "MITOSIS_GUARD_CACHE_TTL=1h0m0s", `MITOSIS_LOG_LEVEL="loud"`,
		"MITOSIS_GUARD_HARD_CAP=0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}
