package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"

	"golang.org/x/crypto/acme"
)

// order obtains a certificate for every configured name from the CA with
// HTTP-01 challenges, registering the tier's account first if it has none.
// The challenge answers are published while the CA validates them (this
// replica's challenge handler, its state, and its admin endpoint for
// siblings that are asked for a token they do not know).
func (mg *Manager) order(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, mg.cfg.OrderTimeout)
	defer cancel()
	client, err := mg.accountClient(ctx)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	o, err := client.AuthorizeOrder(ctx, acme.DomainIDs(mg.cfg.Domains...))
	if err != nil {
		return fmt.Errorf("new order: %w", err)
	}
	for _, u := range o.AuthzURLs {
		if err := mg.authorize(ctx, client, u); err != nil {
			return err
		}
	}
	if o, err = client.WaitOrder(ctx, o.URI); err != nil {
		return fmt.Errorf("order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: mg.cfg.Domains[0]},
		DNSNames: mg.cfg.Domains,
	}, key)
	if err != nil {
		return err
	}
	ders, _, err := client.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	cs := &CertState{ChainPEM: encodeChain(ders), KeyPEM: keyPEM}
	c, err := parseIssued(cs, mg.now())
	if err != nil {
		return fmt.Errorf("the CA's certificate: %w", err)
	}
	if !mg.covers(c) {
		return fmt.Errorf("the CA's certificate does not cover %v", mg.cfg.Domains)
	}
	mg.mu.Lock()
	mg.cert = c
	mg.mu.Unlock()
	mg.serve(c.cert)
	mg.persist()
	return nil
}

// authorize completes one authorization with its http-01 challenge.
func (mg *Manager) authorize(ctx context.Context, client *acme.Client, url string) error {
	z, err := client.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil // the CA remembers an earlier validation
	}
	var chal *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == "http-01" {
			chal = c
		}
	}
	if chal == nil {
		return fmt.Errorf("the CA offers no http-01 challenge for %s", z.Identifier.Value)
	}
	ka, err := client.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return err
	}
	mg.mu.Lock()
	mg.own[chal.Token] = ka
	mg.mu.Unlock()
	defer func() {
		mg.mu.Lock()
		delete(mg.own, chal.Token)
		mg.mu.Unlock()
	}()
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("accept challenge for %s: %w", z.Identifier.Value, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("validation of %s: %w", z.Identifier.Value, err)
	}
	return nil
}

// accountClient returns a client for the tier's account, creating the key
// and registering it first when the tier has none at this CA. A new key is
// kept (and shared) before registering, so a failed registration is
// retried with the same key.
func (mg *Manager) accountClient(ctx context.Context) (*acme.Client, error) {
	mg.mu.Lock()
	a := mg.acct
	mg.mu.Unlock()
	if a == nil || a.CA != mg.cfg.CA {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		kp, err := encodeKey(k)
		if err != nil {
			return nil, err
		}
		a = &account{AccountState: AccountState{CA: mg.cfg.CA, KeyPEM: kp}, key: k}
		mg.setAccount(a)
	}
	client := &acme.Client{Key: a.key, DirectoryURL: mg.cfg.CA, HTTPClient: mg.acmeHTTP, UserAgent: "mitosis"}
	if a.URL != "" {
		client.KID = acme.KeyID(a.URL)
		return client, nil
	}
	req := &acme.Account{}
	if mg.cfg.Email != "" {
		req.Contact = []string{"mailto:" + mg.cfg.Email}
	}
	got, err := client.Register(ctx, req, acme.AcceptTOS)
	if errors.Is(err, acme.ErrAccountAlreadyExists) {
		got, err = client.GetReg(ctx, "")
	}
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	b := *a
	b.URL = got.URI
	mg.setAccount(&b)
	mg.log.Info("TLS: ACME account registered", "ca", mg.cfg.CA, "url", got.URI)
	return client, nil
}

func (mg *Manager) setAccount(a *account) {
	mg.mu.Lock()
	mg.acct = a
	mg.mu.Unlock()
	mg.persist()
}
