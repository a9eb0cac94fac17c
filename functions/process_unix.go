//go:build unix

package functions

import (
	"os/exec"
	"syscall"
)

// ownGroup starts cmd in a process group of its own and makes the kill at
// cancellation take the whole group: a program that forked leaves nothing.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
