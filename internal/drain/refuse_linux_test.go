package drain

import (
	"errors"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// The kernel accepts refuseNew's one-instruction drop filter (a malformed
// program would get EINVAL) wherever it supports socket filters at all.
func TestRefuseNewAttachesDropFilter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = refuseNew(ln.(*net.TCPListener))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT) {
		t.Skipf("this kernel has no socket filters (%v): refuseNew falls back to a backlog of 0", err)
	}
	if err != nil {
		t.Fatalf("attaching the drop filter: %v", err)
	}
}
