package lookup

import "syscall"

// lowestPriority puts the calling OS thread at nice 19, the lowest CPU priority Linux gives
// (a thread is a task of its own there: setpriority on its id moves it alone). Lowering one's
// own priority needs no privilege; should it fail anyway, the thread keeps its priority and
// the hash still runs, bounded as before.
func lowestPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19)
}
