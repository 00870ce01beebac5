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
type attemptCgroup struct{ dirs []string }

// newAttemptCgroup makes a workspace's cgroups, capped at memory bytes and
// procs processes (a negative value leaves that one uncapped); nil when the
// machine has none to give.
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
		if err := os.WriteFile(filepath.Join(dir, c.limit), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			cg.remove()
			return nil, fmt.Errorf("sandbox: cgroup %s: %w", c.limit, err)
		}
	}
	return cg, nil
}

// procsFiles opens each cgroup's cgroup.procs for a command to join.
func (cg *attemptCgroup) procsFiles() ([]*os.File, error) {
	var fs []*os.File
	for _, d := range cg.dirs {
		f, err := os.OpenFile(filepath.Join(d, "cgroup.procs"), os.O_WRONLY, 0)
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
	var errs []error
	for _, d := range cg.dirs {
		deadline := time.Now().Add(2 * time.Second)
		for {
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, err)
				break
			}
			time.Sleep(10 * time.Millisecond) // a killed process is still exiting
		}
	}
	return errors.Join(errs...)
}

// empty reports whether no process is left in the workspace's cgroups. Every
// process of a workspace's uid is in them: each command joins them before
// its script starts, a child is born in its parent's cgroup, and the uid
// cannot write to any cgroup.procs (root's) to leave. So an empty cgroup
// means there is nothing of that uid to kill, and the walk of every process
// on the machine that KillUID makes can be skipped. It is false whenever it
// cannot tell (no cgroup, a read that failed, a process still exiting).
func (cg *attemptCgroup) empty() bool {
	if cg == nil || len(cg.dirs) == 0 {
		return false
	}
	for _, d := range cg.dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || len(strings.TrimSpace(string(b))) != 0 {
			return false
		}
	}
	return true
}

// killLeft kills every process of uid unless its cgroup shows there is none.
func killLeft(uid uint32, cg *attemptCgroup) {
	if !cg.empty() {
		KillUID(uid)
	}
}
