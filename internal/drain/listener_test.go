package drain

import (
	"errors"
	"net"
	"testing"
)

// A listener the quiescing Accept has closed may be closed again by
// http.Server.Shutdown (when Serve has not returned yet): not an error.
func TestDrainListenerCloseTwice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := NewListener(ln)
	dl.Quiesce()
	if _, err := dl.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept while quiescing with nothing queued: %v, want net.ErrClosed", err)
	}
	select {
	case <-dl.Done():
	default:
		t.Fatal("Done not closed after the quiescing Accept closed the listener")
	}
	if err := dl.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
}
