package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The store keeps exactly one row per voter: voter id → vote. A re-vote
// overwrites the row and moves one count from the old option to the new
// one in the same transaction, so the counts always equal the rows.
var (
	bucketVotes  = []byte("votes")
	bucketCounts = []byte("counts")
)

// voterID is the shape of a voter id: 32 hex digits (16 random bytes).
var voterID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// validVote reports whether v is one of the two options.
func validVote(v string) bool { return v == "a" || v == "b" }

// Counts is the tally, as GET /result/votes answers it.
type Counts struct {
	A uint64 `json:"a"`
	B uint64 `json:"b"`
}

// store is the votes database: bbolt, one file, fsynced on every commit.
type store struct{ db *bolt.DB }

// openStore opens (or creates) the database at path. A second store on the
// same file fails after a second instead of waiting for the lock forever.
func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketVotes, bucketCounts} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

// put records voter's vote, replacing an earlier one. Concurrent puts are
// batched into one transaction (one fsync) by bbolt.
func (s *store) put(voter, vote string) error {
	if !voterID.MatchString(voter) || !validVote(vote) {
		return errors.New("bad voter id or vote")
	}
	return s.db.Batch(func(tx *bolt.Tx) error {
		votes, counts := tx.Bucket(bucketVotes), tx.Bucket(bucketCounts)
		old := votes.Get([]byte(voter))
		if string(old) == vote {
			return nil
		}
		if old != nil {
			if err := add(counts, old, -1); err != nil {
				return err
			}
		}
		if err := votes.Put([]byte(voter), []byte(vote)); err != nil {
			return err
		}
		return add(counts, []byte(vote), 1)
	})
}

func add(counts *bolt.Bucket, key []byte, d int64) error {
	var n uint64
	if b := counts.Get(key); len(b) == 8 {
		n = binary.BigEndian.Uint64(b)
	}
	n = uint64(int64(n) + d)
	return counts.Put(key, binary.BigEndian.AppendUint64(nil, n))
}

// get returns voter's vote, "" if none.
func (s *store) get(voter string) (string, error) {
	var v string
	err := s.db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketVotes).Get([]byte(voter)))
		return nil
	})
	return v, err
}

// counts returns the tally.
func (s *store) counts() (Counts, error) {
	var c Counts
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounts)
		for key, p := range map[string]*uint64{"a": &c.A, "b": &c.B} {
			if v := b.Get([]byte(key)); len(v) == 8 {
				*p = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return c, err
}

// rows counts the voter rows (tests check it against the tally).
func (s *store) rows() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketVotes).Stats().KeyN
		return nil
	})
	return n, err
}

// handler is the store's HTTP interface, on the app's private network
// only (it has no authentication):
//
//	PUT /votes/{voter}   body "a" or "b"  → 204
//	GET /votes/{voter}                    → 200 "a"/"b", 404 if none
//	GET /counts                           → {"a": N, "b": M}
//	GET /healthz                          → 200
func (s *store) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /votes/{voter}", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 16))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		voter, vote := r.PathValue("voter"), string(b)
		if !voterID.MatchString(voter) || !validVote(vote) {
			http.Error(w, "want PUT /votes/<32 hex digits> with body a or b", http.StatusBadRequest)
			return
		}
		if err := s.put(voter, vote); err != nil {
			http.Error(w, "store error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /votes/{voter}", func(w http.ResponseWriter, r *http.Request) {
		v, err := s.get(r.PathValue("voter"))
		switch {
		case err != nil:
			http.Error(w, "store error: "+err.Error(), http.StatusInternalServerError)
		case v == "":
			http.NotFound(w, r)
		default:
			_, _ = io.WriteString(w, v)
		}
	})
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		c, err := s.counts()
		if err != nil {
			http.Error(w, "store error: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}
