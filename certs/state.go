package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// State is the tier's ACME state as replicas exchange it (GET
// /_mitosis/tls/state) and keep it in MITOSIS_TLS_STORE. It holds private
// keys: it crosses the network only to a caller with the cluster token.
type State struct {
	Account *AccountState `json:"account,omitempty"`
	Cert    *CertState    `json:"certificate,omitempty"`
	// Challenges maps the tokens of pending HTTP-01 challenges to their
	// key authorizations (not stored on disk).
	Challenges map[string]string `json:"challenges,omitempty"`
}

// AccountState is the ACME account: its key and URL at the CA.
type AccountState struct {
	CA     string `json:"ca"`
	URL    string `json:"url,omitempty"` // "" while not registered
	KeyPEM string `json:"key"`
}

// CertState is the certificate chain (leaf first) and its private key.
type CertState struct {
	ChainPEM string `json:"chain"`
	KeyPEM   string `json:"key"`
}

// Limits of a state read from a sibling or the store: a hijacked or broken
// sibling cannot make a replica allocate much.
const (
	maxStateBytes   = 1 << 20
	maxChallenges   = 100
	maxTokenLen     = 256
	maxKeyAuthLen   = 512
	stateFileName   = "mitosis-tls-state.json"
	challengePrefix = "/.well-known/acme-challenge/"
)

// account is a parsed AccountState.
type account struct {
	AccountState
	key crypto.Signer
}

func parseAccount(a *AccountState) (*account, error) {
	if a == nil {
		return nil, nil
	}
	k, err := parseKey([]byte(a.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("account key: %w", err)
	}
	return &account{AccountState: *a, key: k}, nil
}

// issued is a parsed CertState.
type issued struct {
	CertState
	cert *tls.Certificate
}

func parseIssued(c *CertState, now time.Time) (*issued, error) {
	if c == nil {
		return nil, nil
	}
	tc, err := parsePair([]byte(c.ChainPEM), []byte(c.KeyPEM), now)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return &issued{CertState: *c, cert: tc}, nil
}

// validChallenges keeps the well-formed entries of a sibling's challenges,
// at most maxChallenges of them.
func validChallenges(in map[string]string) map[string]string {
	out := make(map[string]string, min(len(in), maxChallenges))
	for t, ka := range in {
		if len(out) == maxChallenges {
			break
		}
		if validToken(t) && len(ka) <= maxKeyAuthLen && len(ka) > len(t) && ka[:len(t)] == t && ka[len(t)] == '.' {
			out[t] = ka
		}
	}
	return out
}

// validToken accepts an ACME challenge token: base64url characters
// (RFC 8555 section 8.3), at least 128 bits' worth, bounded length.
func validToken(t string) bool {
	if len(t) < 22 || len(t) > maxTokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// encodeKey is a private key in PKCS#8 PEM.
func encodeKey(k crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func encodeChain(ders [][]byte) string {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return string(out)
}

// loadStore reads the state file in dir; a missing file is an empty state.
func loadStore(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if len(b) > maxStateBytes {
		return s, fmt.Errorf("%s: larger than %d bytes", stateFileName, maxStateBytes)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", stateFileName, err)
	}
	s.Challenges = nil
	return s, nil
}

// saveStore writes the account and certificate to dir, readable by the
// owner only, atomically (a temporary file renamed over the old one), so
// replicas sharing the directory never read half a file.
func saveStore(dir string, s State) error {
	s.Challenges = nil
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tls-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, stateFileName))
}
