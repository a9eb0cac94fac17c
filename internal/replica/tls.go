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
	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/pool"
)

// httpsServers are the HTTPS listener (the full balancer over net/http,
// h2 and HTTP/1.1) and the redirect listener, when TLS is configured. The
// plain public listener and its fast path are not touched: siblings still
// forward to each other's plain port inside the overlay.
type httpsServers struct {
	mg       *certs.Manager
	m        *certs.Metrics
	tls      *http.Server
	tlsLn    net.Listener
	redirect *http.Server // nil without MITOSIS_HTTP_REDIRECT
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
	s := &httpsServers{m: m}
	if s.mg, err = certs.New(tc, tlsTier{r}, m, log, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// listen binds the HTTPS and redirect listeners and builds their servers;
// serve starts them.
func (s *httpsServers) listen(r *Replica, c config.Config) error {
	tc := c.TLS
	tc.HandshakeTimeout = c.ReadHeaderTimeout
	inner, err := net.Listen("tcp", tc.Listen)
	if err != nil {
		return fmt.Errorf("MITOSIS_TLS_LISTEN=%s: %w", tc.Listen, err)
	}
	r.cfg.TLS.Listen = inner.Addr().String()
	tlsCfg := s.mg.TLSConfig()
	s.tlsLn = certs.NewListener(inner, tlsCfg, tc.HandshakeTimeout, s.m)
	// The same limits as the plain listener's net/http server.
	s.tls = &http.Server{
		Handler:           certs.HSTS(r.h, int64(tc.HSTS/time.Second)),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          r.pub.ErrorLog,
	}
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

// serve starts the servers and the manager's loop; a server that fails
// (not one shut down by the drain) reports on errc.
func (s *httpsServers) serve(ctx context.Context, errc chan<- error) {
	go s.mg.Run(ctx)
	run := func(srv *http.Server, ln net.Listener) {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}
	go run(s.tls, s.tlsLn)
	if s.redirect != nil {
		go run(s.redirect, s.redirLn)
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

// drain stops new connections and lets the requests under way finish
// (HTTP/2 clients get GOAWAY), like the plain listener.
func (s *httpsServers) drain(ctx context.Context) error {
	s.tls.SetKeepAlivesEnabled(false)
	err := s.tls.Shutdown(ctx)
	if s.redirect != nil {
		_ = s.redirect.Shutdown(ctx)
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
	for _, ln := range []net.Listener{s.tlsLn, s.redirLn} {
		if ln != nil {
			ln.Close()
		}
	}
	for _, srv := range []*http.Server{s.tls, s.redirect} {
		if srv != nil {
			srv.Close()
		}
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
