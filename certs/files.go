package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// FileError is a certificate or key file that cannot be served: it names
// the variable, the file and what is wrong.
type FileError struct {
	Var, File string
	Err       error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s=%q: %v", e.Var, e.File, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// pairError says which half of a pair is wrong.
type pairError struct {
	inKey bool
	err   error
}

func (e *pairError) Error() string { return e.err.Error() }
func (e *pairError) Unwrap() error { return e.err }

// LoadFiles reads and checks a PEM certificate chain and its key: both
// readable, the key matching the leaf certificate, the leaf not expired at
// now. Errors are *FileError.
func LoadFiles(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, keyPEM, err := readPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return filePair(certFile, keyFile, certPEM, keyPEM, now)
}

// readPair reads both files; errors are *FileError.
func readPair(certFile, keyFile string) (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(certFile); err != nil {
		return nil, nil, &FileError{"MITOSIS_TLS_CERT", certFile, fmt.Errorf("cannot read the certificate: %w", err)}
	}
	if keyPEM, err = os.ReadFile(keyFile); err != nil {
		return nil, nil, &FileError{"MITOSIS_TLS_KEY", keyFile, fmt.Errorf("cannot read the private key: %w", err)}
	}
	return certPEM, keyPEM, nil
}

func filePair(certFile, keyFile string, certPEM, keyPEM []byte, now time.Time) (*tls.Certificate, error) {
	c, err := parsePair(certPEM, keyPEM, now)
	var pe *pairError
	if errors.As(err, &pe) && pe.inKey {
		return nil, &FileError{"MITOSIS_TLS_KEY", keyFile, fmt.Errorf("%w (certificate: %s)", pe.err, certFile)}
	}
	if err != nil {
		return nil, &FileError{"MITOSIS_TLS_CERT", certFile, err}
	}
	return c, nil
}

// parsePair builds a servable certificate from PEM: every CERTIFICATE
// block of certPEM in order (leaf first), the first private key block of
// keyPEM (PKCS#8, PKCS#1 or SEC 1). Errors are *pairError.
func parsePair(certPEM, keyPEM []byte, now time.Time) (*tls.Certificate, error) {
	var ders [][]byte
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, &pairError{false, errors.New("no PEM CERTIFICATE block in the file")}
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, &pairError{false, fmt.Errorf("the first certificate does not parse: %w", err)}
	}
	if now.After(leaf.NotAfter) {
		return nil, &pairError{false, fmt.Errorf("the certificate for %s expired on %s", certName(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, &pairError{true, err}
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, &pairError{true, errors.New("the private key does not match the certificate")}
	}
	return &tls.Certificate{Certificate: ders, PrivateKey: key, Leaf: leaf}, nil
}

func parseKey(keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM private key block in the file")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("the private key does not parse: %w", err)
		}
		switch k := k.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
}

// certName is the first name a certificate is for, for messages.
func certName(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return "(no name)"
}

// fileStamp is what the reloader compares: a change of either file's
// modification time or size makes it read both again.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func stampOf(certFile, keyFile string) (fileStamp, error) {
	a, err := os.Stat(certFile)
	if err != nil {
		return fileStamp{}, &FileError{"MITOSIS_TLS_CERT", certFile, fmt.Errorf("cannot read the certificate: %w", err)}
	}
	b, err := os.Stat(keyFile)
	if err != nil {
		return fileStamp{}, &FileError{"MITOSIS_TLS_KEY", keyFile, fmt.Errorf("cannot read the private key: %w", err)}
	}
	return fileStamp{a.ModTime(), b.ModTime(), a.Size(), b.Size()}, nil
}

// reloader re-reads a certificate pair when the files change. A pair that
// does not load (say, half-written: the new certificate next to the old
// key) keeps the certificate served so far and is reported once.
type reloader struct {
	certFile, keyFile string
	stamp             fileStamp
	sum               [32]byte // of the pair being served
	failed            [32]byte // of the last pair that failed, reported once
}

// check returns a new certificate when the files hold a different, valid
// pair; err when they hold a different pair that does not load (reported
// once per content); both nil when nothing changed.
func (r *reloader) check(now time.Time) (*tls.Certificate, error) {
	st, err := stampOf(r.certFile, r.keyFile)
	if err != nil {
		return nil, r.failOnce(sha256.Sum256([]byte(err.Error())), err)
	}
	if st == r.stamp {
		return nil, nil
	}
	certPEM, keyPEM, err := readPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, r.failOnce(sha256.Sum256([]byte(err.Error())), err)
	}
	sum := pairSum(certPEM, keyPEM)
	if sum == r.sum {
		r.stamp = st // touched, not changed
		return nil, nil
	}
	c, err := filePair(r.certFile, r.keyFile, certPEM, keyPEM, now)
	if err != nil {
		// The stamp stays old: the next check reads again, so a pair
		// written in two steps loads once both are there.
		return nil, r.failOnce(sum, err)
	}
	r.stamp, r.sum, r.failed = st, sum, [32]byte{}
	return c, nil
}

func (r *reloader) failOnce(sum [32]byte, err error) error {
	if sum == r.failed {
		return nil
	}
	r.failed = sum
	return err
}

func pairSum(certPEM, keyPEM []byte) [32]byte {
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
