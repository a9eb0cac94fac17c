package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/drain"
	"github.com/mitosis-run/mitosis/pool"
)

// httpsServers are the HTTPS listener and the redirect listener, when TLS
// is configured. The public h1 server serves the HTTPS listener too
// (h1.Server.ServeTLS): HTTP/1.1 on its fast path, HTTP/2 on its
// net/http fallback, both with the full balancer. Siblings still forward
// to each other's plain port inside the overlay.
type httpsServers struct {
	mg       *certs.Manager
	m        *certs.Metrics
	hs       *certs.Handshaker
	hsts     int64           // MITOSIS_HSTS in seconds, 0 for none
	tlsLn    *drain.Listener // TCP: h1 shakes hands on each connection
	redirect *http.Server    // nil without MITOSIS_HTTP_REDIRECT
	redirLn  net.Listener
}

// newHTTPS loads the certificate files (or the stored ACME state) before
// anything starts: a file that cannot be served is a *certs.FileError,
// which stops start-up with exit status 2.
func (r *Replica) newHTTPS(c config.Config, reg prometheus.Registerer, log *slog.Logger) (*httpsServers, error) {
	tc := c.TLS
	tc.Token = c.Balancer.ClusterToken
	tc.HandshakeTimeout = c.ReadHeaderTimeout
	m, err := certs.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &httpsServers{m: m, hsts: int64(tc.HSTS / time.Second)}
	if s.mg, err = certs.New(tc, tlsTier{r}, m, log, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// listen binds the HTTPS and redirect listeners and builds the redirect
// server; serve starts them.
func (s *httpsServers) listen(r *Replica, c config.Config) error {
	tc := c.TLS
	inner, err := net.Listen("tcp", tc.Listen)
	if err != nil {
		return fmt.Errorf("MITOSIS_TLS_LISTEN=%s: %w", tc.Listen, err)
	}
	r.cfg.TLS.Listen = inner.Addr().String()
	s.tlsLn = drain.NewListener(inner)
	s.hs = certs.NewHandshaker(s.mg.TLSConfig(), c.ReadHeaderTimeout, s.m)
	if tc.RedirectListen != "" {
		if s.redirLn, err = net.Listen("tcp", tc.RedirectListen); err != nil {
			s.tlsLn.Close()
			return fmt.Errorf("MITOSIS_HTTP_REDIRECT=%s: %w", tc.RedirectListen, err)
		}
		r.cfg.TLS.RedirectListen = s.redirLn.Addr().String()
		s.redirect = &http.Server{
			Handler:           s.mg.RedirectHandler(portOf(r.cfg.TLS.Listen)),
			ReadHeaderTimeout: c.ReadHeaderTimeout,
			IdleTimeout:       c.IdleTimeout,
			MaxHeaderBytes:    c.MaxHeaderBytes,
			ErrorLog:          r.pub.ErrorLog,
		}
	}
	return nil
}

// handler is the public net/http server's handler: h, adding HSTS to the
// answers to requests that came over TLS (those of HTTP/2 connections,
// and of HTTP/1.1 ones the fast path handed off).
func (s *httpsServers) handler(h http.Handler) http.Handler {
	if s == nil {
		return h
	}
	return certs.HSTS(h, s.hsts)
}

// serve starts the HTTPS listener on fast, the redirect server and the
// manager's loop; a server that fails (not one shut down by the drain)
// reports on errc.
func (s *httpsServers) serve(ctx context.Context, fast *h1.Server, errc chan<- error) {
	go s.mg.Run(ctx)
	go func() {
		err := fast.ServeTLS(s.tlsLn, h1.TLS{Handshaker: s.hs, HSTS: certs.HSTSValue(s.hsts)})
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if s.redirect != nil {
		go func() {
			if err := s.redirect.Serve(s.redirLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
}

// tlsReady gates readiness: with ACME a replica reports ready once it
// holds the tier's state (see certs.Manager.Ready). r.https is read at
// each check: it is set before the admin server starts.
func (r *Replica) tlsReady(next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if r.https != nil && !r.https.mg.Ready() {
			return errors.New("TLS: waiting for the tier's certificate from a sibling")
		}
		if next != nil {
			return next(ctx)
		}
		return nil
	}
}

// drain stops accepting HTTPS connections as the plain listener does
// (drain.Listener.Quiesce) and shuts the redirect server down. The h1
// server's Shutdown drains the HTTPS connections with the plain ones
// (HTTP/2 clients get GOAWAY).
func (s *httpsServers) drain(ctx context.Context) error {
	s.tlsLn.Quiesce()
	var err error
	if s.redirect != nil {
		err = s.redirect.Shutdown(ctx)
	}
	select {
	case <-s.tlsLn.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// addrs names the HTTPS and redirect addresses for the start-up log.
func (s *httpsServers) addrs() string {
	switch {
	case s == nil:
		return "off"
	case s.redirect == nil:
		return s.tlsLn.Addr().String()
	}
	return s.tlsLn.Addr().String() + " (redirect " + s.redirLn.Addr().String() + ")"
}

func (s *httpsServers) close() {
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	if s.redirLn != nil {
		s.redirLn.Close()
	}
	if s.redirect != nil {
		s.redirect.Close()
	}
}

// tlsTier answers certs.Tier from the sibling table.
type tlsTier struct{ r *Replica }

func (t tlsTier) Leader() bool {
	lead, _ := tlsView(t.r.selfCandidate(), t.r.store.List())
	return lead
}

func (t tlsTier) Peers() []string {
	_, peers := tlsView(t.r.selfCandidate(), t.r.store.List())
	return peers
}

func (r *Replica) selfCandidate() autoscale.Candidate { return r.selfCandidateAt(r.now()) }

func (r *Replica) selfCandidateAt(now time.Time) autoscale.Candidate {
	return autoscale.Candidate{ID: r.cfg.ReplicaID, Ready: !r.h.Draining(), CanScale: r.canAct(now, 2*r.settle())}
}

// withTLSAdmin adds the tier's TLS state endpoints to the admin handler.
func (s *httpsServers) withTLSAdmin(h http.Handler) http.Handler {
	if s == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("GET /_mitosis/tls/", s.mg.AdminHandler())
	return mux
}

// tlsView says whether self obtains the tier's certificate and which
// siblings to pull the tier's state from, the one that obtains it first.
// It is the autoscaler's leader (ready, able to scale, smallest id); when
// no replica in view can scale (driver off, replicas on Swarm workers),
// the ready replica with the smallest id. Siblings that are down or still
// joining are not asked.
func tlsView(self autoscale.Candidate, members []pool.Member) (bool, []string) {
	cands := autoscale.CandidatesOf(members)
	anyCanScale := self.CanScale
	for _, c := range cands {
		anyCanScale = anyCanScale || c.Ready && c.CanScale && c.ID != self.ID
	}
	if !anyCanScale {
		self.CanScale = true
		for i := range cands {
			cands[i].CanScale = true
		}
	}
	withSelf := append(append([]autoscale.Candidate(nil), cands...), self)
	type peer struct {
		addr   string
		id     string
		leader bool
	}
	var ps []peer
	for i, m := range members {
		if m.ID == self.ID || m.State != pool.StateReady && m.State != pool.StateDraining || m.AdminAddr == "" {
			continue
		}
		ps = append(ps, peer{m.AdminAddr, m.ID, m.State == pool.StateReady && autoscale.Leader(cands[i], withSelf)})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].leader != ps[j].leader {
			return ps[i].leader
		}
		return ps[i].id < ps[j].id
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.addr
	}
	return autoscale.Leader(self, cands), out
}
