package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The reference proxies, each configured for one core and keep-alive to
// the upstream, so that they compare with one mitosis replica under
// GOMAXPROCS=1.

func (r *runner) startNginx(ctx context.Context) (*target, error) {
	p, err := r.nginx(ctx, "nginx", offNginx, r.addr(offUpstream))
	if err != nil {
		return nil, err
	}
	return &target{name: "nginx", url: "http://" + r.addr(offNginx) + "/", procs: []*proc{p}, note: "1 worker, upstream keepalive 64; CPU and RSS: master + worker"}, nil
}

// startNginxChain starts two nginx instances, the front one proxying to
// the other: what a second proxy of the best-known kind costs on the same
// CPUs, the reference for the mitosis forward path (which also puts two
// proxies on every request).
func (r *runner) startNginxChain(ctx context.Context) (*target, error) {
	inner, err := r.nginx(ctx, "nginx-inner", offNginxInner, r.addr(offUpstream))
	if err != nil {
		return nil, err
	}
	front, err := r.nginx(ctx, "nginx-front", offNginxFront, r.addr(offNginxInner))
	if err != nil {
		return nil, err
	}
	return &target{name: "nginx chain", url: "http://" + r.addr(offNginxFront) + "/", procs: []*proc{front, inner},
		note: "nginx → nginx → upstream, both as the nginx row; CPU and RSS are both instances'"}, nil
}

// nginx starts one nginx (1 worker) named name on port offset listen,
// proxying to upstream with the header work mitosis does.
func (r *runner) nginx(ctx context.Context, name string, listen int, upstream string) (*proc, error) {
	return r.nginxTLS(ctx, name, listen, upstream, nil)
}

// nginxTLS is nginx, serving HTTPS (HTTP/2 and HTTP/1.1) with the
// certificate pair when tls is not nil.
func (r *runner) nginxTLS(ctx context.Context, name string, listen int, upstream string, tls *certPair) (*proc, error) {
	out, err := filepath.Abs(r.o.out)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(out, "nginx-tmp")
	if err := os.MkdirAll(tmp, 0o777); err != nil {
		return nil, err
	}
	// keepalive_requests: nginx closes a keep-alive connection after 1000
	// requests by default (both sides); wrk would then reconnect, which no
	// other target makes it do.
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/%[5]s.pid;
error_log %[1]s/logs/%[5]s-error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16000; }
http {
  access_log off;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  keepalive_timeout 120s;
  keepalive_requests 100000000;
  upstream app {
    server %[3]s;
    keepalive 64;
    keepalive_requests 100000000;
  }
  server {
    listen %[4]s backlog=4096%[6]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The header work mitosis does on every request (fair comparison):
      # X-Forwarded-* to the app, a replica header to the client.
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
      add_header X-Mitosis-Replica bench;
    }
  }
}
`, out, tmp, upstream, r.addr(listen), name, tlsDirectives(tls))
	path, err := r.writeConf(name+".conf", conf)
	if err != nil {
		return nil, err
	}
	p, err := r.ps.start(name, nil, "nginx", "-e", filepath.Join(out, "logs", name+"-error.log"), "-p", out, "-c", path)
	if err != nil {
		return nil, err
	}
	scheme := "http://"
	if tls != nil {
		scheme = "https://"
	}
	if err := waitHTTP(ctx, p, scheme+r.addr(listen)+"/", 10*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func (r *runner) startHAProxy(ctx context.Context) (*target, error) {
	// HAProxy reserves two descriptors per connection (plus a few) and
	// refuses to start when maxconn needs more than the open-file limit
	// (20000 on the machines we run on, and not raisable there), so the
	// memory test opens at most maxconn-16 connections to it; the memory
	// table says how many were established.
	maxconn := r.o.haproxyMaxconn
	if maxconn == 0 {
		maxconn = haproxyAutoMaxconn()
	}
	conf := fmt.Sprintf(`global
  nbthread 1
  maxconn %[3]d
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
frontend fe
  bind %[1]s
  default_backend be
backend be
  # The header work mitosis does on every request (fair comparison).
  option forwardfor
  http-request set-header X-Forwarded-Host %%[req.hdr(host)]
  http-request set-header X-Forwarded-Proto http
  http-response set-header X-Mitosis-Replica bench
  server app %[2]s
`, r.addr(offHAProxy), r.addr(offUpstream), maxconn)
	path, err := r.writeConf("haproxy.cfg", conf)
	if err != nil {
		return nil, err
	}
	p, err := r.ps.start("haproxy", nil, "haproxy", "-db", "-f", path)
	if err != nil {
		return nil, err
	}
	url := "http://" + r.addr(offHAProxy) + "/"
	if err := waitHTTP(ctx, p, url, 10*time.Second); err != nil {
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	return &target{name: "haproxy", url: url, procs: []*proc{p}, note: "nbthread 1, http-reuse always", maxIdle: maxconn - 16}, nil
}

// haproxyAutoMaxconn is the largest maxconn HAProxy accepts under the
// current open-file limit (it wants 2 × maxconn + 14 descriptors).
func haproxyAutoMaxconn() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 1000 {
		return 400
	}
	return int(min(rl.Cur, 100000)-64) / 2
}

func (r *runner) startCaddy(ctx context.Context) (*target, error) {
	out, err := filepath.Abs(r.o.out)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
}
http://:%[1]d {
	bind 127.0.0.1
	# reverse_proxy sets X-Forwarded-For/-Host/-Proto itself; the
	# response header matches mitosis's X-Mitosis-Replica.
	reverse_proxy %[2]s
	header X-Mitosis-Replica bench
}
`, r.o.portBase+offCaddy, r.addr(offUpstream))
	path, err := r.writeConf("Caddyfile", conf)
	if err != nil {
		return nil, err
	}
	// Caddy is a Go program too: GOMAXPROCS=1 gives it the one core that
	// mitosis gets. XDG_* keep its autosave (Caddy 2.6 has no persist_config)
	// and data out of $HOME.
	env := []string{"GOMAXPROCS=1", "XDG_CONFIG_HOME=" + filepath.Join(out, "caddy"), "XDG_DATA_HOME=" + filepath.Join(out, "caddy")}
	p, err := r.ps.start("caddy", env, "caddy", "run", "--adapter", "caddyfile", "--config", path)
	if err != nil {
		return nil, err
	}
	url := "http://" + r.addr(offCaddy) + "/"
	if err := waitHTTP(ctx, p, url, 15*time.Second); err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	return &target{name: "caddy", url: url, procs: []*proc{p}, note: "reverse_proxy, GOMAXPROCS=1"}, nil
}
