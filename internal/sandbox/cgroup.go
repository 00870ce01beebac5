package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goatbench/goatbench/internal/sandbox/pid1"
	"golang.org/x/sys/unix"
)

// Per-attempt caps. Rlimits bound one process; an attempt's commands are many
// processes, each with its own private /tmp and /dev/shm in bwrap mode. Where
// goatbench runs as root on a machine with cgroup v1 memory and pids
// controllers (this kind of machine has no cgroup v2 delegation), each
// workspace gets a cgroup of its own under goatbench's, capping the memory of
// all its processes together (tmpfs pages included: they are charged to the
// cgroup of the process that wrote them) and their number. Every command
// joins it itself, first thing, by writing 0 ("this process") to a
// cgroup.procs file goatbench opened and passed it; in bwrap mode that works
// from inside the sandbox, which has no /sys. Elsewhere only the rlimits and
// the tmpfs sizes hold: see the README.

// cgroupControllers are the v1 hierarchies used, each with the file that caps it.
var cgroupControllers = []struct{ name, limit string }{
	{"memory", "memory.limit_in_bytes"},
	{"pids", "pids.max"},
}

var (
	cgroupOnce  sync.Once
	cgroupBases []string // this process's cgroup in each controller; nil: none usable
	cgroupSeq   atomic.Int64
)

// cgroupBase finds where goatbench's own cgroups are, once.
func cgroupBaseDirs() []string {
	cgroupOnce.Do(func() {
		if os.Geteuid() != 0 {
			return
		}
		own, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return
		}
		var bases []string
		for _, c := range cgroupControllers {
			path := ""
			for _, line := range strings.Split(string(own), "\n") {
				// hierarchy-ID:controller-list:path
				f := strings.SplitN(line, ":", 3)
				if len(f) == 3 && (f[1] == c.name || strings.Contains(","+f[1]+",", ","+c.name+",")) {
					path = f[2]
				}
			}
			dir := filepath.Join("/sys/fs/cgroup", c.name, path)
			if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); path == "" || err != nil {
				return
			}
			bases = append(bases, dir)
		}
		cgroupBases = bases
		// A killed goatbench leaves its (by now empty) cgroups behind.
		for _, base := range bases {
			entries, _ := os.ReadDir(base)
			for _, e := range entries {
				var pid, n int
				if _, err := fmt.Sscanf(e.Name(), "goatbench-%d-%d", &pid, &n); err == nil && pid != os.Getpid() {
					if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
						_ = os.Remove(filepath.Join(base, e.Name()))
					}
				}
			}
		}
	})
	return cgroupBases
}

// attemptCgroup is one workspace's cgroup in each controller.
type attemptCgroup struct {
	dirs []string

	// A thread in the cgroups (cgroup v1 places threads one by one, through
	// "tasks") forks a child into them, where a command that moved itself
	// would wait for an RCU grace period whenever no other move came just
	// before (cgroup_threadgroup_rwsem: 15-35 ms here for a command after a
	// model's turn). Only that thread is there, not its process, which the
	// memory cgroup's OOM killer therefore never picks (it picks among
	// thread group leaders). Plain's commands are forked by such a thread of
	// goatbench's (fk); a session's by its init's forker thread (see
	// session.inCgroup).
	fkOnce sync.Once
	fk     *pid1.Forker // nil where its thread could not join: each command joins itself
	fkIn   atomic.Bool  // fk is made: its thread is in the cgroups, for empty
}

// newAttemptCgroup makes a workspace's cgroups, capped at memory bytes and
// procs processes (a negative value leaves that one uncapped), and room for
// the one forker thread that may be there besides (see bornIn and
// session.inCgroup); nil when the machine has none to give.
func newAttemptCgroup(memory, procs int64) (*attemptCgroup, error) {
	bases := cgroupBaseDirs()
	if bases == nil {
		return nil, nil
	}
	name := fmt.Sprintf("goatbench-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	cg := &attemptCgroup{}
	for i, c := range cgroupControllers {
		dir := filepath.Join(bases[i], name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("sandbox: cgroup: %w", err)
		}
		cg.dirs = append(cg.dirs, dir)
		v := []int64{memory, procs}[i]
		if v < 0 {
			continue
		}
		if i == 1 {
			v += forkerTasks
		}
		if err := os.WriteFile(filepath.Join(dir, c.limit), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			cg.remove()
			return nil, fmt.Errorf("sandbox: cgroup %s: %w", c.limit, err)
		}
	}
	return cg, nil
}

// forkerTasks is what a workspace's pids cgroup allows beyond the
// commands' processes: a forker thread, goatbench's (bornIn) or a session
// init's; RLIMIT_NPROC still counts a command's own exactly.
const forkerTasks = 1

// bornIn has the command forked by a thread of goatbench's in the
// cgroups, made at the workspace's first command: one move for the whole
// workspace. Where that thread cannot join them, the command joins them
// itself.
func (cg *attemptCgroup) bornIn(s *spec) error {
	if cg == nil {
		return nil
	}
	cg.fkOnce.Do(func() {
		cg.fk, _ = pid1.NewForker(func() error {
			tid := []byte(strconv.Itoa(unix.Gettid()))
			for _, d := range cg.dirs {
				if err := os.WriteFile(filepath.Join(d, "tasks"), tid, 0); err != nil {
					return err
				}
			}
			return nil
		})
		cg.fkIn.Store(cg.fk != nil)
	})
	if cg.fk == nil {
		return cg.join(s)
	}
	s.forker = cg.fk
	return nil
}

// tasksFiles opens each cgroup's tasks file, for a session's init to place
// its forker thread there.
func (cg *attemptCgroup) tasksFiles() ([]*os.File, error) {
	return cg.open("tasks")
}

// procsFiles opens each cgroup's cgroup.procs for a command to join.
func (cg *attemptCgroup) procsFiles() ([]*os.File, error) {
	return cg.open("cgroup.procs")
}

// open opens a file of each cgroup for writing.
func (cg *attemptCgroup) open(name string) ([]*os.File, error) {
	var fs []*os.File
	for _, d := range cg.dirs {
		f, err := os.OpenFile(filepath.Join(d, name), os.O_WRONLY, 0)
		if err != nil {
			for _, f := range fs {
				f.Close()
			}
			return nil, fmt.Errorf("sandbox: cgroup: %w", err)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// join makes the command join the cgroups before anything else: the fds are
// passed after s.extra, and the limits file writes 0 to each.
func (cg *attemptCgroup) join(s *spec) error {
	if cg == nil {
		return nil
	}
	files, err := cg.procsFiles()
	if err != nil {
		return err
	}
	var cmds, closes []string
	for i := range files {
		fd := strconv.Itoa(firstExtra + len(s.extra) + i)
		cmds = append(cmds, "printf 0 >&"+fd)
		closes = append(closes, fd+">&-")
	}
	s.extra = append(s.extra, files...)
	s.ulimit = strings.Join(cmds, " && ") + " && exec " + strings.Join(closes, " ") + " && " + s.ulimit
	return nil
}

// remove deletes the cgroups once their processes are gone.
func (cg *attemptCgroup) remove() error {
	cg.fkOnce.Do(func() {}) // none is made after this
	if cg.fk != nil {
		cg.fk.Stop() // its thread leaves them as it ends
	}
	var errs []error
	for _, d := range cg.dirs {
		deadline := time.Now().Add(2 * time.Second)
		// A thread or a killed process still exiting: the forker's thread
		// leaves within microseconds, a killed process can take longer.
		wait := 50 * time.Microsecond
		for {
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, err)
				break
			}
			time.Sleep(wait)
			wait = min(2*wait, 10*time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// empty reports whether no process is left in the workspace's cgroups. Every
// process of a workspace's uid is in them: each command is born in them or
// joins both before its script starts, a child is born in its parent's
// cgroup, and the uid cannot write to any cgroup.procs (root's) to leave. So
// an empty cgroup means there is nothing of that uid to kill, and the walk of
// every process on the machine that KillUID makes can be skipped. It reads
// the pids cgroup's count of tasks (every thread of every process in it,
// exiting ones included) against the one thread of goatbench's that may be
// there (see bornIn): one small read, where listing cgroup.procs builds a
// sorted list of pids. It is false whenever it cannot tell (no cgroup, a read
// that failed, a process still exiting).
func (cg *attemptCgroup) empty() bool { return cg.emptyBut(0) }

// emptyBut is empty, with threads more tasks allowed: a session's init's
// forker thread, which is there between commands (see session.inCgroup).
func (cg *attemptCgroup) emptyBut(threads int) bool {
	if cg == nil || len(cg.dirs) != len(cgroupControllers) {
		return false
	}
	own := threads
	if cg.fkIn.Load() {
		own += forkerTasks
	}
	n, err := readCount(filepath.Join(cg.dirs[1], "pids.current"))
	return err == nil && n == own
}

// readCount reads a cgroup file holding one number. Raw syscalls: os.File
// would register a kernfs file with the poller, two more syscalls.
func readCount(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var buf [32]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(buf[:n])))
}

// killLeft kills every process of uid unless its cgroup shows there is none.
func killLeft(uid uint32, cg *attemptCgroup) {
	if !cg.empty() {
		KillUID(uid)
	}
}
