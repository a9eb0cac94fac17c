// Package certtest writes certificates for tests and benchmarks: a
// self-signed ECDSA P-256 certificate and its key as PEM files, or in
// memory. Production code must not import it.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Write writes a self-signed certificate for names (DNS names or IP
// addresses), valid from nb to na, and its private key into dir as
// cert.pem and key.pem (the key readable by the owner only). It returns
// the two paths and a pool that trusts the certificate.
func Write(dir string, nb, na time.Time, names ...string) (certFile, keyFile string, roots *x509.CertPool, err error) {
	der, k, err := generate(nb, na, names)
	if err != nil {
		return "", "", nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return "", "", nil, err
	}
	if roots, err = pool(der); err != nil {
		return "", "", nil, err
	}
	return certFile, keyFile, roots, nil
}

// New is Write in memory: the certificate with its key, ready for a
// tls.Config, and a pool that trusts it.
func New(nb, na time.Time, names ...string) (tls.Certificate, *x509.CertPool, error) {
	der, k, err := generate(nb, na, names)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots, err := pool(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, roots, nil
}

// generate makes the key and the self-signed certificate (DER).
func generate(nb, na time.Time, names []string) ([]byte, *ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	return der, k, nil
}

// pool trusts the certificate der.
func pool(der []byte) (*x509.CertPool, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)
	return roots, nil
}
