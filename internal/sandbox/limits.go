package sandbox

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
)

// Limits bound what one command may use. A zero field takes its value from
// DefaultLimits; Unlimited turns a limit off. CPU, process, file and memory
// limits are rlimits set in the command's shell before the script runs, so
// they hold for every process it starts and the script cannot raise them.
type Limits struct {
	Timeout      time.Duration // wall clock, for a Command that sets none
	OutputCap    int           // bytes of output kept, for a Command that sets none
	CPU          time.Duration // CPU time per process (RLIMIT_CPU); zero: DefaultLimits.CPU or the command's timeout, whichever is longer
	Processes    int           // processes and threads of one command (RLIMIT_NPROC)
	OpenFiles    int           // open files per process (RLIMIT_NOFILE)
	FileSize     int64         // largest file a process may write, in bytes (RLIMIT_FSIZE)
	AddressSpace int64         // virtual memory per process, in bytes (RLIMIT_AS)
	TmpSize      int64         // size of the private /tmp and of /dev/shm, in bytes (bwrap only)
	// Memory caps all processes of one workspace together, tmpfs pages
	// included, in bytes; it needs root and a cgroup memory controller (see
	// cgroup.go), and Processes then also caps the workspace's processes
	// together.
	Memory int64
}

// Unlimited, as a Limits field, turns that limit off.
const Unlimited = -1

// DefaultLimits are the limits of a sandbox that sets none. The address space
// is sized for runtimes that reserve large virtual ranges up front: python3,
// bash, coreutils, grep, Go and Node run within 1 GiB; Java 17 needs 4 GiB.
var DefaultLimits = Limits{
	Timeout:      DefaultTimeout,
	OutputCap:    DefaultOutputCap,
	CPU:          DefaultTimeout,
	Processes:    256,
	OpenFiles:    1024,
	FileSize:     1 << 30,
	AddressSpace: 4 << 30,
	TmpSize:      256 << 20,
	Memory:       4 << 30,
}

// withDefaults fills every zero field but CPU from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Timeout == 0 {
		l.Timeout = d.Timeout
	}
	if l.OutputCap == 0 {
		l.OutputCap = d.OutputCap
	}
	if l.Processes == 0 {
		l.Processes = d.Processes
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = d.OpenFiles
	}
	if l.FileSize == 0 {
		l.FileSize = d.FileSize
	}
	if l.AddressSpace == 0 {
		l.AddressSpace = d.AddressSpace
	}
	if l.TmpSize == 0 {
		l.TmpSize = d.TmpSize
	}
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	// Timeouts and the output cap have no "off": fall back to the defaults.
	if l.Timeout < 0 {
		l.Timeout = DefaultTimeout
	}
	if l.OutputCap < 0 {
		l.OutputCap = DefaultOutputCap
	}
	return l
}

// rlimitNproc is RLIMIT_NPROC, which package syscall does not name.
const rlimitNproc = 6

// ulimit is the bash command that applies l to a command with this timeout.
// processes is the RLIMIT_NPROC value, which depends on the mode (see Plain).
// Each value is clamped to the hard limit goatbench itself runs under, since
// an unprivileged shell cannot raise it and would refuse the whole command.
func (l Limits) ulimit(timeout time.Duration, processes int64) string {
	var cmds []string
	// v is in the rlimit's own unit; bash wants blocks of unit of them.
	value := func(resource int, v int64, unit int64) string {
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(resource, &cur); err == nil && cur.Max <= math.MaxInt64 && uint64(v) > cur.Max {
			v = int64(cur.Max)
		}
		return strconv.FormatInt(max((v+unit-1)/unit, 1), 10)
	}
	// A task may give a check more time than the default CPU limit; unless
	// told otherwise, let its processes use it.
	cpu := l.CPU
	if cpu == 0 {
		cpu = max(DefaultLimits.CPU, timeout)
	}
	if cpu > 0 {
		// The soft limit sends SIGXCPU ("CPU time limit exceeded"), which
		// tells the model why; a process that ignores it dies at the hard one.
		secs := int64((cpu + time.Second - 1) / time.Second)
		// Soft first: a hard limit below the current soft one is refused.
		cmds = append(cmds, "ulimit -S -t "+value(syscall.RLIMIT_CPU, secs, 1), "ulimit -H -t "+value(syscall.RLIMIT_CPU, secs+1, 1))
	}
	rest := "ulimit"
	if processes >= 0 {
		// In a session (see session), the init's threads count in the same
		// RLIMIT_NPROC as the command's processes, and the init says how
		// many: the command still gets processes of its own.
		n := fmt.Sprintf("(%d+${%s:-0})", max(processes, 1), pid1.TasksVar)
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(rlimitNproc, &cur); err == nil && cur.Max <= math.MaxInt64 {
			n = fmt.Sprintf("(%s<%d?%s:%d)", n, cur.Max, n, cur.Max)
		}
		rest += " -u $((" + n + "))"
	}
	for _, r := range []struct {
		flag     string
		resource int
		v, unit  int64
	}{
		{"n", syscall.RLIMIT_NOFILE, int64(l.OpenFiles), 1},
		{"f", syscall.RLIMIT_FSIZE, l.FileSize, 1024}, // bash counts 1024-byte blocks
		{"v", syscall.RLIMIT_AS, l.AddressSpace, 1024},
	} {
		if r.v >= 0 {
			rest += " -" + r.flag + " " + value(r.resource, r.v, r.unit)
		}
	}
	if rest != "ulimit" {
		cmds = append(cmds, rest)
	}
	if len(cmds) == 0 {
		return "true"
	}
	return strings.Join(cmds, " && ")
}

// tasksOnMachine is the number of processes and threads running now, from
// /proc/loadavg; 0 when unknown.
func tasksOnMachine() int64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(total, 10, 64)
	return n
}
