package balancer

import (
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	prev := -1.0
	for i := 0; i < numBuckets; i++ {
		up := bucketUpper(i)
		if up <= prev {
			t.Fatalf("bucket %d upper %g not above %g", i, up, prev)
		}
		prev = up
	}
	for _, us := range []uint64{0, 1, 3, 4, 5, 7, 8, 100, 999, 1000, 12345, 1 << 20, 1<<31 - 1} {
		b := bucketOf(us)
		if float64(us) > bucketUpper(b) {
			t.Errorf("%dµs in bucket %d with upper %g", us, b, bucketUpper(b))
		}
		if b > 0 && float64(us) <= bucketUpper(b-1) {
			t.Errorf("%dµs in bucket %d but fits bucket %d", us, b, b-1)
		}
	}
}

func TestWindowQuantiles(t *testing.T) {
	var w window
	now := time.Unix(1000, 0)
	// 90 fast requests (1ms) and 10 slow ones (100ms).
	for i := 0; i < 90; i++ {
		w.record(now, time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		w.record(now, 100*time.Millisecond)
	}
	st := w.stats(now.Add(500 * time.Millisecond))
	if st.Count != 100 {
		t.Fatalf("count %d", st.Count)
	}
	within := func(name string, got, want time.Duration) {
		if got < want || float64(got) > float64(want)*1.2 {
			t.Errorf("%s = %s, want %s (+20%%)", name, got, want)
		}
	}
	within("p50", st.P50, time.Millisecond)
	within("p95", st.P95, 100*time.Millisecond)
	within("p99", st.P99, 100*time.Millisecond)
	if st.EWMA <= time.Millisecond || st.EWMA >= 100*time.Millisecond {
		t.Errorf("ewma %s not between the samples", st.EWMA)
	}
}

func TestWindowSlides(t *testing.T) {
	var w window
	t0 := time.Unix(2000, 0)
	w.record(t0, 50*time.Millisecond)
	if st := w.stats(t0.Add(time.Duration(windowSlots-1) * time.Second)); st.Count != 1 {
		t.Fatalf("sample gone before the window passed: %d", st.Count)
	}
	if st := w.stats(t0.Add(windowSlots * time.Second)); st.Count != 0 {
		t.Fatalf("sample still counted after the window: %d", st.Count)
	}
	// A slot reused a window later starts from zero.
	w.record(t0.Add(windowSlots*time.Second), time.Millisecond)
	st := w.stats(t0.Add(windowSlots * time.Second))
	if st.Count != 1 || st.P99 > 2*time.Millisecond {
		t.Fatalf("reused slot: count %d p99 %s", st.Count, st.P99)
	}
}

func TestRecordAllocs(t *testing.T) {
	var w window
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { w.record(now, time.Millisecond) }); n != 0 {
		t.Fatalf("record allocates %v per call", n)
	}
}
