package balancer

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
)

// recorder remembers the status written through it. It unwraps to the
// underlying writer so http.ResponseController (flush, hijack for
// WebSocket, deadlines) reaches the connection.
type recorder struct {
	http.ResponseWriter
	h       *Handler
	code    int
	upgrade bool         // the request asked for an upgrade
	slot    atomic.Int32 // slotNone, slotHeld, slotReleased
	sw      *streamWatch // an HTTP/2 request's bounds, or nil
}

func (r *recorder) reset(w http.ResponseWriter) {
	r.ResponseWriter, r.code, r.upgrade, r.sw = w, 0, false, nil
	r.slot.Store(slotNone)
}

// final is called before the final status goes out: an upgrade request
// answered without switching protocols closes its connection.
func (r *recorder) final(code int) {
	if r.upgrade && code != http.StatusSwitchingProtocols {
		r.Header()["Connection"] = connClose
	}
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.code = code
		r.final(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
		r.final(r.code)
	}
	if r.sw != nil {
		r.sw.begin(watchWrite)
		defer r.sw.end()
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if r.code == 0 {
		r.code = http.StatusOK
		r.final(r.code)
	}
	if r.sw != nil {
		r.sw.begin(watchWrite)
		defer r.sw.end()
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if r.code == 0 {
		r.code = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
