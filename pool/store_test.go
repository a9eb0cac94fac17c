package pool

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func keys(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Key
	}
	return out
}

func TestStoreCRUD(t *testing.T) {
	s := NewStore()
	if _, ok := s.Get("a:1"); ok {
		t.Fatal("Get on empty store found a member")
	}
	s.Upsert(Member{Key: "b:1", State: StateReady, Inflight: 2})
	s.Upsert(Member{Key: "a:1", State: StateJoining})
	s.Upsert(Member{Key: ""}) // ignored

	m, ok := s.Get("b:1")
	if !ok || m.Inflight != 2 || m.AdminAddr != "b:1" {
		t.Fatalf("Get(b:1) = %+v, %v; want Inflight 2, AdminAddr defaulted to the key", m, ok)
	}
	if got := keys(s.List()); !slices.Equal(got, []string{"a:1", "b:1"}) {
		t.Fatalf("List keys = %v, want sorted [a:1 b:1]", got)
	}

	// A copy out of the store is not an alias into it.
	m.Inflight = 99
	if again, _ := s.Get("b:1"); again.Inflight != 2 {
		t.Fatalf("modifying a returned Member changed the store: %+v", again)
	}

	if !s.Update("b:1", func(m *Member) { m.Queued = 5; m.Key = "evil" }) {
		t.Fatal("Update on present member returned false")
	}
	if m, _ := s.Get("b:1"); m.Queued != 5 {
		t.Fatalf("after Update, Queued = %d, want 5", m.Queued)
	}
	if _, ok := s.Get("evil"); ok {
		t.Fatal("Update could change the key")
	}
	if s.Update("zz:1", func(*Member) {}) {
		t.Fatal("Update on absent member returned true")
	}

	s.Delete("b:1")
	s.Delete("nope:1") // absent: no-op
	if got := keys(s.List()); !slices.Equal(got, []string{"a:1"}) {
		t.Fatalf("after Delete, List keys = %v", got)
	}
}

func TestStoreReconcile(t *testing.T) {
	s := NewStore()
	s.Upsert(Member{Key: "old:1", State: StateReady})
	s.Upsert(Member{Key: "keep:1", State: StateReady, Inflight: 7})
	s.ExcludeSelf("me:1")

	s.Reconcile([]Target{
		{AdminAddr: "keep:1", ID: "k", Source: SourceDNS},
		{AdminAddr: "new:1", ID: "n", Source: SourceDNS},
		{AdminAddr: "new:1", ID: "dup", Source: SourceDNS},
		{AdminAddr: "me:1", Source: SourceDNS},
		{AdminAddr: "", Source: SourceDNS},
	}, t0)

	if got := keys(s.List()); !slices.Equal(got, []string{"keep:1", "new:1"}) {
		t.Fatalf("keys = %v, want [keep:1 new:1] (old removed, self and empty skipped)", got)
	}
	keep, _ := s.Get("keep:1")
	if keep.State != StateReady || keep.Inflight != 7 || keep.ID != "k" {
		t.Errorf("known member = %+v, want state and figures kept, empty ID filled", keep)
	}
	nw, _ := s.Get("new:1")
	want := Member{Key: "new:1", ID: "n", AdminAddr: "new:1", State: StateJoining, Updated: t0, Source: SourceDNS}
	if nw != want {
		t.Errorf("new member = %+v, want %+v", nw, want)
	}

	// A known ID is not overwritten by discovery.
	s.Reconcile([]Target{{AdminAddr: "keep:1", ID: "other"}}, t0)
	if m, _ := s.Get("keep:1"); m.ID != "k" {
		t.Errorf("ID = %q, want the reported k kept", m.ID)
	}
	if got := keys(s.List()); !slices.Equal(got, []string{"keep:1"}) {
		t.Fatalf("keys = %v, want [keep:1]", got)
	}

	s.Reconcile(nil, t0)
	if n := len(s.List()); n != 0 {
		t.Fatalf("after empty discovery %d members remain", n)
	}
}

func TestStoreWatch(t *testing.T) {
	s := NewStore()
	w := s.Watch()
	select {
	case <-w:
		t.Fatal("watch fired before any change")
	default:
	}
	s.Upsert(Member{Key: "a:1", State: StateReady})
	select {
	case <-w:
	default:
		t.Fatal("watch did not fire on Upsert")
	}

	// No-op writes do not wake watchers.
	w = s.Watch()
	s.Upsert(Member{Key: "a:1", AdminAddr: "a:1", State: StateReady})
	s.Delete("absent:1")
	s.Update("a:1", func(*Member) {})
	s.Reconcile([]Target{{AdminAddr: "a:1"}}, t0)
	select {
	case <-w:
		t.Fatal("watch fired on a write that changed nothing")
	default:
	}

	tests := []struct {
		name  string
		write func()
	}{
		{"Update", func() { s.Update("a:1", func(m *Member) { m.Inflight++ }) }},
		{"MarkDown", func() { s.MarkDown("a:1") }},
		{"ApplyLoad", func() { s.ApplyLoad("a:1", Load{Inflight: 9}, t0) }},
		{"Reconcile", func() { s.Reconcile([]Target{{AdminAddr: "b:1"}}, t0) }},
		{"Delete", func() { s.Delete("b:1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := s.Watch()
			tt.write()
			select {
			case <-w:
			default:
				t.Fatalf("watch did not fire on %s", tt.name)
			}
		})
	}
}

func TestStoreReadySnapshot(t *testing.T) {
	s := NewStore()
	if r := s.Ready(); len(r) != 0 {
		t.Fatalf("empty store Ready = %v", r)
	}
	s.Upsert(Member{Key: "c:1", State: StateReady})
	s.Upsert(Member{Key: "a:1", State: StateReady})
	s.Upsert(Member{Key: "b:1", State: StateDown})
	s.Upsert(Member{Key: "d:1", State: StateDraining})
	s.Upsert(Member{Key: "e:1", State: StateJoining})

	before := s.Ready()
	if got := keys(before); !slices.Equal(got, []string{"a:1", "c:1"}) {
		t.Fatalf("Ready keys = %v, want [a:1 c:1]", got)
	}

	allocs := testing.AllocsPerRun(1000, func() {
		if len(s.Ready()) != 2 {
			panic("unexpected ready count")
		}
	})
	if allocs != 0 {
		t.Fatalf("Ready allocates %.1f times per call, want 0", allocs)
	}

	// Every kind of write is reflected at once.
	s.MarkDown("a:1")
	s.Update("b:1", func(m *Member) { m.State = StateReady })
	s.ApplyLoad("c:1", Load{Inflight: 4}, t0)
	after := s.Ready()
	if got := keys(after); !slices.Equal(got, []string{"b:1", "c:1"}) {
		t.Fatalf("Ready keys after writes = %v, want [b:1 c:1]", got)
	}
	if after[1].Inflight != 4 {
		t.Fatalf("Ready c:1 Inflight = %d, want the applied 4", after[1].Inflight)
	}
	// An earlier snapshot is immutable: holders keep a consistent view.
	if got := keys(before); !slices.Equal(got, []string{"a:1", "c:1"}) || before[1].Inflight != 0 {
		t.Fatalf("earlier snapshot changed: %+v", before)
	}
}

func TestStoreMarkDownAndApplyLoad(t *testing.T) {
	tests := []struct {
		name  string
		state MemberState
		load  Load
		want  MemberState
	}{
		{"ready stays ready", StateReady, Load{Inflight: 1}, StateReady},
		{"ready draining at once", StateReady, Load{Draining: true}, StateDraining},
		{"down stays down", StateDown, Load{Inflight: 1}, StateDown},
		{"down draining stays down", StateDown, Load{Draining: true}, StateDown},
		{"joining not promoted", StateJoining, Load{}, StateJoining},
		{"draining not undrained", StateDraining, Load{}, StateDraining},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			s.Upsert(Member{Key: "a:1", State: tt.state})
			l := tt.load
			l.Queued, l.Capacity, l.EWMA = 2, 8, 3*time.Millisecond
			s.ApplyLoad("a:1", l, t0)
			m, _ := s.Get("a:1")
			if m.State != tt.want {
				t.Errorf("state = %s, want %s", m.State, tt.want)
			}
			if m.Inflight != l.Inflight || m.Queued != 2 || m.Capacity != 8 ||
				m.LatencyEWMA != 3*time.Millisecond || !m.Updated.Equal(t0) {
				t.Errorf("figures not applied: %+v", m)
			}
		})
	}

	s := NewStore()
	s.ApplyLoad("absent:1", Load{}, t0) // no-op, no panic
	s.MarkDown("absent:1")
	if n := len(s.List()); n != 0 {
		t.Fatalf("ApplyLoad/MarkDown on absent member created %d members", n)
	}
	s.Upsert(Member{Key: "a:1", State: StateReady, Fails: 0})
	s.MarkDown("a:1")
	if m, _ := s.Get("a:1"); m.State != StateDown {
		t.Fatalf("MarkDown: state = %s", m.State)
	}
}

func TestStoreCounts(t *testing.T) {
	s := NewStore()
	s.Upsert(Member{Key: "a:1", State: StateReady})
	s.Upsert(Member{Key: "b:1", State: StateReady})
	s.Upsert(Member{Key: "c:1", State: StateDown})
	got := s.Counts()
	want := map[MemberState]int{StateReady: 2, StateDown: 1, StateJoining: 0, StateDraining: 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Counts = %v, want %v", got, want)
	}
}

// TestStoreConcurrent runs writers against hot-path readers under -race and
// checks every snapshot is sorted and holds only ready members.
func TestStoreConcurrent(t *testing.T) {
	s := NewStore()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("m%d-%d:1", w, i%10)
				switch i % 4 {
				case 0:
					s.Upsert(Member{Key: key, State: StateReady})
				case 1:
					s.ApplyLoad(key, Load{Inflight: i}, t0)
				case 2:
					s.MarkDown(key)
				case 3:
					s.Delete(key)
				}
			}
		})
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := s.Ready()
			for i, m := range r {
				if m.State != StateReady {
					t.Errorf("snapshot holds %s member %s", m.State, m.Key)
					return
				}
				if i > 0 && r[i-1].Key >= m.Key {
					t.Errorf("snapshot not sorted: %v", keys(r))
					return
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	// The final snapshot equals the ready members of the final table.
	var want []string
	for _, m := range s.List() {
		if m.State == StateReady {
			want = append(want, m.Key)
		}
	}
	if got := keys(s.Ready()); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("final snapshot %v, table's ready members %v", got, want)
	}
}

func BenchmarkReady(b *testing.B) {
	s := NewStore()
	for i := range 100 {
		s.Upsert(Member{Key: fmt.Sprintf("10.0.0.%d:9090", i), State: StateReady})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Ready()
	}
}

func BenchmarkApplyLoad(b *testing.B) {
	s := NewStore()
	for i := range 100 {
		s.Upsert(Member{Key: fmt.Sprintf("10.0.0.%d:9090", i), State: StateReady})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		s.ApplyLoad("10.0.0.42:9090", Load{Inflight: i % 8}, t0)
	}
}
