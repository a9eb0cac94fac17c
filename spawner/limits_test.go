package spawner

import (
	"context"
	"errors"
	"testing"
)

// limitsFake records Scale calls; Err is returned by Scale.
type limitsFake struct {
	St     Status
	Err    error
	Scaled []int
	Vers   []uint64
}

func (f *limitsFake) Status(context.Context) (Status, error) { return f.St, nil }

func (f *limitsFake) Scale(_ context.Context, n int, v uint64) error {
	f.Scaled = append(f.Scaled, n)
	f.Vers = append(f.Vers, v)
	return f.Err
}

func TestWithLimitsClamps(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		ask      int
		want     int
	}{
		{"inside passes through", 1, 10, 4, 4},
		{"at max", 1, 10, 10, 10},
		{"above max is capped", 1, 10, 11, 10},
		{"far above max is capped", 2, 5, 1000, 5},
		{"below min is raised", 2, 5, 1, 2},
		{"zero is raised", 1, 5, 0, 1},
		{"negative is raised", 1, 5, -3, 1},
		{"min equals max", 3, 3, 7, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &limitsFake{}
			d := WithLimits(f, tt.min, tt.max)
			if err := d.Scale(context.Background(), tt.ask, 42); err != nil {
				t.Fatalf("Scale: %v", err)
			}
			if len(f.Scaled) != 1 || f.Scaled[0] != tt.want || f.Vers[0] != 42 {
				t.Fatalf("delegated %v at versions %v, want [%d] at [42]", f.Scaled, f.Vers, tt.want)
			}
		})
	}
}

func TestWithLimitsPassesStatusAndErrors(t *testing.T) {
	conflict := &ConflictError{Version: 7, Err: errors.New("out of sequence")}
	f := &limitsFake{St: Status{Desired: 12, Running: 11, Version: 7}, Err: conflict}
	d := WithLimits(f, 1, 5)
	st, err := d.Status(context.Background())
	if err != nil || st != f.St {
		t.Fatalf("Status = %+v, %v; want %+v unchanged", st, err, f.St)
	}
	if err := d.Scale(context.Background(), 3, 7); !IsConflict(err) {
		t.Fatalf("Scale error = %v, want the driver's conflict", err)
	}
}

func TestWithLimitsRejectsBadBounds(t *testing.T) {
	for _, b := range [][2]int{{0, 5}, {3, 2}, {-1, -1}} {
		t.Run("", func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("WithLimits(min=%d, max=%d) did not panic", b[0], b[1])
				}
			}()
			WithLimits(&limitsFake{}, b[0], b[1])
		})
	}
}
