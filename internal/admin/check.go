package admin

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Check asks the admin server at addr (MITOSIS_ADMIN_LISTEN; an empty or
// wildcard host means this machine) for /healthz, or /readyz when ready is
// set: the HEALTHCHECK of images that have no shell or curl. It returns nil
// on 200, else an error naming the path, the status and the body's start.
func Check(ctx context.Context, addr string, ready bool) error {
	path := "/healthz"
	if ready {
		path = "/readyz"
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s", path, resp.Status, body)
	}
	return nil
}
