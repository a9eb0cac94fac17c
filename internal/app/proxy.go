package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/balancer/h1"
)

// NewProxy proxies to an app that listens at target. The balancer
// already set X-Forwarded-* (and stripped what clients sent), so they are
// passed on as they are.
func NewProxy(target *url.URL, maxConns int, log *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[k]; ok {
					pr.Out.Header[k] = v
				}
			}
		},
		Transport: balancer.NewTransport(maxConns),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			log.Warn("app did not answer", "err", err)
			http.Error(w, strings.TrimSuffix(h1.BadGatewayBody, "\n"), http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// DialCheck is the readiness check of an app behind a TCP address.
func DialCheck(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("app at %s does not accept connections: %w", addr, err)
		}
		return c.Close()
	}
}
