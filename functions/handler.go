package functions

import (
	"errors"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Handler serves the function routes and passes every other request to
// next. A request to a route runs its function once: the request's CGI
// environment and its body on stdin in, the function's stdout (with an
// optional header block, see parseOutput) out. Limits: a body over
// MaxBody gets 413, headers over MaxEnv 431, no slot in time (or a
// draining replica) 503 with Retry-After, a run past its timeout 504, a
// run that fails, exits non-zero or writes too much 502 (its stderr goes
// to the log, never to the client). An async route answers 202 once the
// run is accepted. Nothing in the request chooses the image, the command,
// the arguments or a container option.
func (s *Set) Handler(next http.Handler) http.Handler {
	if len(s.routes) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := s.match(r.URL.Path)
		if x == nil {
			next.ServeHTTP(w, r)
			return
		}
		s.serve(w, r, x)
	})
}

// match finds the route of a path: the longest route path that is the
// whole path or a prefix ending at a '/'. Paths that are not clean (., ..
// or empty segments) match no route: they go to the app, which decides.
func (s *Set) match(p string) *fn {
	if c := path.Clean(p); c != p && c+"/" != p {
		return nil
	}
	for _, x := range s.routes {
		if x.Path == "/" || p == x.Path || strings.HasPrefix(p, x.Path) && p[len(x.Path)] == '/' {
			return x
		}
	}
	return nil
}

func (s *Set) serve(w http.ResponseWriter, r *http.Request, x *fn) {
	if r.ContentLength > int64(s.cfg.MaxBody) {
		httpError(w, http.StatusRequestEntityTooLarge, "request body too large for this function")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBody)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, "request body too large for this function")
			return
		}
		httpError(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	env, err := requestEnv(r, &x.Function, len(body), s.cfg.MaxEnv)
	if err != nil {
		httpError(w, http.StatusRequestHeaderFieldsTooLarge, "request headers too large for this function")
		return
	}
	job := x.job(x.Args, env, body, s.cfg.Timeout)
	if x.Async {
		if err := s.start(x, job); err != nil {
			s.busy503(w)
			return
		}
		httpError(w, http.StatusAccepted, "accepted")
		return
	}
	res, err := s.call(r.Context(), x, job)
	switch {
	case err == nil:
	case errors.Is(err, ErrBusy), errors.Is(err, ErrQueueTimeout), errors.Is(err, ErrDraining):
		s.busy503(w)
		return
	case r.Context().Err() != nil:
		return // the client left: nobody to answer
	case errors.Is(err, ErrTimeout):
		httpError(w, http.StatusGatewayTimeout, "the function did not finish in time")
		return
	case errors.Is(err, ErrOutputTooLarge):
		httpError(w, http.StatusBadGateway, "the function's response was too large")
		return
	default:
		httpError(w, http.StatusBadGateway, "the function could not run")
		return
	}
	if res.ExitCode != 0 {
		httpError(w, http.StatusBadGateway, "the function failed")
		return
	}
	status, h, out, err := parseOutput(res.Stdout)
	if err != nil {
		s.log.Warn("function: bad output", "function", x.Name, "err", err)
		httpError(w, http.StatusBadGateway, "the function's response was malformed")
		return
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out)
	}
}

func (s *Set) busy503(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(s.cfg.RetryAfter))
	httpError(w, http.StatusServiceUnavailable, "the function is busy, retry later")
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}
