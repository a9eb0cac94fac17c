//go:build !linux

package drain

import (
	"errors"
	"net"
)

func refuseNew(*net.TCPListener) error { return errors.ErrUnsupported }
