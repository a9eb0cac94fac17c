package app

import "syscall"

// childSysProcAttr makes the app child get SIGTERM if mitosis dies without
// draining (SIGKILL), so it is never orphaned.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
