package pool

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

const (
	tableMembers = "members"
	indexID      = "id"
	indexState   = "state"
)

// schema is the one memdb table. The "state" index is non-unique; memdb
// appends the primary key to non-unique index values, so iterating one state
// yields members sorted by Key, which keeps Ready() ordered for free.
func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableMembers: {
			Name: tableMembers,
			Indexes: map[string]*memdb.IndexSchema{
				indexID: {
					Name:    indexID,
					Unique:  true,
					Indexer: &memdb.StringFieldIndex{Field: "Key"},
				},
				indexState: {
					Name:    indexState,
					Indexer: &memdb.StringFieldIndex{Field: "State"},
				},
			},
		},
	}}
}

// Store is the typed table of siblings. It hides memdb: values go in and come
// out as Member, never interface{}. All methods are safe for concurrent use.
//
// Writes are serialised by one mutex so that the Ready snapshot published after
// a write always reflects the latest committed table (two writers committing
// A then B can never publish B's snapshot before A's).
type Store struct {
	db *memdb.MemDB

	// ready is the immutable snapshot of ready members, sorted by Key; it is
	// replaced (never modified) after each write.
	ready atomic.Pointer[[]Member]

	mu sync.Mutex // serialises writers; guards watch and self
	// watch is closed and replaced at every change.
	watch chan struct{}
	// self holds keys that turned out to be this replica; Reconcile never
	// re-adds them (otherwise discovery and the prober would flap the own
	// address in and out of the table every interval).
	self map[string]struct{}
}

// NewStore returns an empty table.
func NewStore() *Store {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		// The schema is a constant; an error here is a programming error.
		panic(fmt.Sprintf("pool: invalid memdb schema: %v", err))
	}
	s := &Store{db: db, watch: make(chan struct{}), self: map[string]struct{}{}}
	empty := []Member{}
	s.ready.Store(&empty)
	return s
}

// write runs fn in one write transaction. fn reports whether it changed the
// table; only then is the transaction committed, the Ready snapshot rebuilt
// and watchers woken.
func (s *Store) write(fn func(txn *memdb.Txn) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	txn := s.db.Txn(true)
	defer txn.Abort()
	if !fn(txn) {
		return
	}
	snap := readyFrom(txn, len(*s.ready.Load()))
	txn.Commit()
	s.ready.Store(&snap)
	close(s.watch)
	s.watch = make(chan struct{})
}

// readyFrom lists the ready members; hint (the previous snapshot's length)
// presizes the slice so a rebuild is one allocation in the steady state.
func readyFrom(txn *memdb.Txn, hint int) []Member {
	it, err := txn.Get(tableMembers, indexState, string(StateReady))
	if err != nil {
		panic(fmt.Sprintf("pool: read ready members: %v", err))
	}
	out := make([]Member, 0, hint+1)
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, *obj.(*Member))
	}
	return out
}

func get(txn *memdb.Txn, key string) (*Member, bool) {
	obj, err := txn.First(tableMembers, indexID, key)
	if err != nil {
		panic(fmt.Sprintf("pool: read member %q: %v", key, err))
	}
	if obj == nil {
		return nil, false
	}
	return obj.(*Member), true
}

// put inserts a copy of m. Insert only fails on schema mismatches, which are
// programming errors.
func put(txn *memdb.Txn, m Member) {
	if err := txn.Insert(tableMembers, &m); err != nil {
		panic(fmt.Sprintf("pool: insert member %q: %v", m.Key, err))
	}
}

func del(txn *memdb.Txn, m *Member) {
	if err := txn.Delete(tableMembers, m); err != nil {
		panic(fmt.Sprintf("pool: delete member %q: %v", m.Key, err))
	}
}

// Upsert inserts or replaces the member with m.Key. An empty Key is ignored.
// An empty AdminAddr defaults to the Key.
func (s *Store) Upsert(m Member) {
	if m.Key == "" {
		return
	}
	if m.AdminAddr == "" {
		m.AdminAddr = m.Key
	}
	s.write(func(txn *memdb.Txn) bool {
		if old, ok := get(txn, m.Key); ok && *old == m {
			return false
		}
		put(txn, m)
		return true
	})
}

// Delete removes the member with key, if present.
func (s *Store) Delete(key string) {
	s.write(func(txn *memdb.Txn) bool {
		old, ok := get(txn, key)
		if ok {
			del(txn, old)
		}
		return ok
	})
}

// ExcludeSelf deletes key and remembers it as this replica's own address, so
// Reconcile never adds it again. The prober calls it when a member reports
// the own replica id.
func (s *Store) ExcludeSelf(key string) {
	s.mu.Lock()
	s.self[key] = struct{}{}
	s.mu.Unlock()
	s.Delete(key)
}

// Get returns a copy of the member with key.
func (s *Store) Get(key string) (Member, bool) {
	m, ok := get(s.db.Txn(false), key)
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// List returns a copy of every member, sorted by Key.
func (s *Store) List() []Member {
	it, err := s.db.Txn(false).Get(tableMembers, indexID)
	if err != nil {
		panic(fmt.Sprintf("pool: list members: %v", err))
	}
	var out []Member
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, *obj.(*Member))
	}
	return out
}

// Ready returns the ready members sorted by Key. It is called on every
// forwarded request, so it does not allocate: it returns a shared immutable
// snapshot that callers must not modify. The snapshot reflects the last
// completed write.
func (s *Store) Ready() []Member {
	return *s.ready.Load()
}

// Update applies fn to a copy of the member with key and stores the result,
// all in one write transaction. It reports false if the member is absent.
// fn must not change Key; a changed Key is restored.
func (s *Store) Update(key string, fn func(*Member)) bool {
	found := false
	s.write(func(txn *memdb.Txn) bool {
		old, ok := get(txn, key)
		if !ok {
			return false
		}
		found = true
		m := *old
		fn(&m)
		m.Key = key
		if m == *old {
			return false
		}
		put(txn, m)
		return true
	})
	return found
}

// Reconcile makes the table follow discovery: targets not yet in the table
// are inserted as StateJoining (Updated = now, Source and ID from the
// target); members whose Key is no longer among the targets are deleted
// ("a member that leaves discovery leaves the table"). Known members keep
// their state and figures; an ID is filled in only if still unknown. Targets
// with an empty AdminAddr and the own addresses (see ExcludeSelf) are skipped.
func (s *Store) Reconcile(targets []Target, now time.Time) {
	s.write(func(txn *memdb.Txn) bool {
		// s.mu is held by write, so reading s.self is safe here.
		want := make(map[string]Target, len(targets))
		for _, t := range targets {
			if _, isSelf := s.self[t.AdminAddr]; t.AdminAddr == "" || isSelf {
				continue
			}
			if _, dup := want[t.AdminAddr]; !dup {
				want[t.AdminAddr] = t
			}
		}
		// Collect first, change after: writing to a memdb transaction while
		// iterating it is not safe.
		var existing []*Member
		it, err := txn.Get(tableMembers, indexID)
		if err != nil {
			panic(fmt.Sprintf("pool: list members: %v", err))
		}
		for obj := it.Next(); obj != nil; obj = it.Next() {
			existing = append(existing, obj.(*Member))
		}
		changed := false
		for _, m := range existing {
			t, ok := want[m.Key]
			switch {
			case !ok:
				del(txn, m)
				changed = true
			case m.ID == "" && t.ID != "":
				c := *m
				c.ID = t.ID
				put(txn, c)
				changed = true
			}
			delete(want, m.Key)
		}
		for key, t := range want {
			put(txn, Member{
				Key:       key,
				ID:        t.ID,
				AdminAddr: key,
				State:     StateJoining,
				Updated:   now,
				Source:    t.Source,
			})
			changed = true
		}
		return changed
	})
}

// MarkDown sets the member down at once: passive ejection after a refused or
// reset connection while forwarding. It stays down until a poll succeeds.
func (s *Store) MarkDown(key string) {
	s.Update(key, func(m *Member) { m.State = StateDown })
}

// ApplyLoad records the load a sibling reported in the LoadHeader of a
// forwarded response, so the table stays fresh between polls. A sibling that
// reports draining becomes StateDraining at once (stop forwarding now). A
// down member stays down until a poll succeeds, and a joining or draining
// member is not promoted: only a successful poll makes a member ready.
func (s *Store) ApplyLoad(key string, l Load, now time.Time) {
	s.Update(key, func(m *Member) {
		m.Inflight = l.Inflight
		m.Queued = l.Queued
		m.Capacity = l.Capacity
		m.LatencyEWMA = l.EWMA
		m.Updated = now
		if l.Draining && m.State != StateDown {
			m.State = StateDraining
		}
	})
}

// Watch returns a channel that is closed at the next change of the table.
// Call Watch again after it fires to wait for the change after that.
func (s *Store) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watch
}

// Counts returns the number of members in each state; every state is present
// (zero counts included) so metrics show explicit zeros.
func (s *Store) Counts() map[MemberState]int {
	out := map[MemberState]int{StateJoining: 0, StateReady: 0, StateDraining: 0, StateDown: 0}
	for _, m := range s.List() {
		out[m.State]++
	}
	return out
}
