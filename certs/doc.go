// Package certs serves mitosis over HTTPS: it holds the certificate the
// TLS listener presents, from files (MITOSIS_TLS_CERT, MITOSIS_TLS_KEY,
// reloaded when they change) or from an ACME CA (MITOSIS_TLS_DOMAINS),
// and it owns the plain-HTTP listener that only redirects to HTTPS and
// answers ACME HTTP-01 challenges.
//
// One tier, one certificate: with ACME, only the replica the tier elects
// (Tier.Leader, the autoscaler's leader) registers the account and orders
// and renews the certificate. Every other replica keeps a copy of the
// tier's TLS state (account key, certificate and key, pending challenge
// answers), pulled from its siblings' admin ports with the cluster token,
// so that a new replica serves HTTPS as soon as it has pulled once, a new
// leader already holds the account and the certificate, and a challenge
// request that lands on any replica is answered. The state can also be
// kept in a directory (MITOSIS_TLS_STORE) across a restart of the tier.
//
// Owns: the TLS server configuration (TLS 1.2+, AEAD suites, X25519 first,
// h2 and http/1.1 by ALPN), the handshakes (Handshaker: the h1 server
// calls it for each connection of the HTTPS listener; Listener for a
// net/http server) and their metrics, the ACME flow
// (golang.org/x/crypto/acme), the replicated state and its admin
// endpoints, the redirect handler and the HSTS value and header.
//
// Must not: serve HTTP on the HTTPS listener (balancer/h1 does) or decide
// who leads; it asks Tier. Manager's, Handshaker's and Listener's methods
// are safe for concurrent use.
package certs
