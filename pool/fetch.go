package pool

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// StatePath is where every replica's admin server serves its State.
const StatePath = "/_mitosis/state"

// TokenHeader carries MITOSIS_CLUSTER_TOKEN on state polls; with a token
// configured, the admin server answers StatePath only when it matches.
const TokenHeader = "X-Mitosis-Token"

// DefaultMaxStateBytes bounds a state body: a State is well under 1 KiB, so
// 64 KiB only guards against a misdirected poll reading a large page.
const DefaultMaxStateBytes = 64 << 10

// TokenOK reports whether the request carries want in TokenHeader. An empty
// want accepts every request. The comparison is constant-time.
func TokenOK(r *http.Request, want string) bool {
	if want == "" {
		return true
	}
	got := r.Header.Get(TokenHeader)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// ErrStateTooLarge is returned when a state body exceeds Fetcher.MaxBytes.
var ErrStateTooLarge = errors.New("state body too large")

// Fetcher reads a sibling's State. It is safe for concurrent use as long as
// its fields are not changed after the first Fetch.
type Fetcher struct {
	// Client sends the polls; nil means http.DefaultClient. Timeouts come
	// from the context passed to Fetch (the prober sets one per poll).
	Client *http.Client
	// Token, if not empty, is sent in TokenHeader (MITOSIS_CLUSTER_TOKEN).
	Token string
	// MaxBytes bounds the body; 0 means DefaultMaxStateBytes.
	MaxBytes int64
}

// Fetch GETs http://adminAddr/_mitosis/state and decodes it. A non-200
// status, a body over MaxBytes, invalid JSON, an empty id or a public port
// outside [1; 65535] are errors (a State without them cannot be forwarded to).
func (f *Fetcher) Fetch(ctx context.Context, adminAddr string) (State, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+StatePath, nil)
	if err != nil {
		return State{}, fmt.Errorf("state of %s: %w", adminAddr, err)
	}
	req.Header.Set("Accept", "application/json")
	if f.Token != "" {
		req.Header.Set(TokenHeader, f.Token)
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return State{}, fmt.Errorf("state of %s: %w", adminAddr, err)
	}
	defer resp.Body.Close()
	limit := f.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxStateBytes
	}
	// Read one byte past the limit to tell "exactly at" from "over".
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return State{}, fmt.Errorf("state of %s: read body: %w", adminAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		return State{}, fmt.Errorf("state of %s: status %s", adminAddr, resp.Status)
	}
	if int64(len(body)) > limit {
		return State{}, fmt.Errorf("state of %s: %w (over %d bytes)", adminAddr, ErrStateTooLarge, limit)
	}
	var st State
	if err := json.Unmarshal(body, &st); err != nil {
		return State{}, fmt.Errorf("state of %s: decode: %w", adminAddr, err)
	}
	if st.ID == "" {
		return State{}, fmt.Errorf("state of %s: empty id", adminAddr)
	}
	if st.PublicPort < 1 || st.PublicPort > 65535 {
		return State{}, fmt.Errorf("state of %s: public_port %d not in [1; 65535]", adminAddr, st.PublicPort)
	}
	return st, nil
}
