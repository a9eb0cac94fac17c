//go:build !linux

package spawner

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: children rely on
// WatchParent (MITOSIS_PARENT_PID) to leave when their parent is gone.
func sysProcAttr() *syscall.SysProcAttr { return nil }
