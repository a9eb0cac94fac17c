package spawner

import "syscall"

// sysProcAttr makes the kernel send SIGTERM to a child when the thread that
// forked it exits (always the starter's locked thread, which lives as long
// as this process), so children never outlive a parent killed with SIGKILL;
// Go's fork path also kills a child whose parent died before the setting
// took hold. Setpgid keeps children out of the terminal's process group: a
// Ctrl-C reaches the parent alone, which drains first and then closes its
// children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}
