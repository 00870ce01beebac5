package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Plain runs commands directly on the host, in their own process group, with
// nothing of goatbench's environment but a minimal PATH and locale, and with
// Limits. It is the fallback where bubblewrap does not work: a command can
// reach the network and read whatever its user can.
//
// Run by root, each workspace gets a uid of its own (high and unnamed), its
// commands run as that uid with no groups and no capabilities, and the
// workspace is handed to it before each command. So a command cannot read
// goatbench's /proc/<pid>/environ or root's files, cannot write to any run
// folder (results.jsonl is root's), and RLIMIT_NPROC counts exactly that
// workspace's processes. After each command, and when the workspace is
// released, every process of that uid is killed: a command that left its
// process group (setsid) does not survive it.
//
// Run by anyone else, commands run as the caller; RLIMIT_NPROC then counts
// every process of the user, so Plain sets it to the processes running on the
// machine plus Limits.Processes: a fork bomb is stopped before it exhausts the
// machine, not at Limits.Processes.
type Plain struct {
	Limits Limits // zero fields take DefaultLimits
}

// Mode names the sandbox in run.json and reports.
func (Plain) Mode() string { return ModePlain }

// Run runs c and returns its result.
func (p Plain) Run(ctx context.Context, c Command) (Result, error) {
	l := p.Limits.withDefaults()
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = l.Timeout
	}
	if os.Geteuid() == 0 {
		return p.runAsUID(ctx, c, l, timeout)
	}
	if err := ownerAccess(c.Dir); err != nil {
		return Result{}, err
	}
	procs := int64(l.Processes)
	if procs >= 0 {
		procs += tasksOnMachine()
	}
	return run(ctx, c, l, spec{
		cmd:    exec.Command(bash(), "-c", c.Script),
		env:    Env(c.Dir, c.Dir),
		ulimit: l.ulimit(timeout, procs),
	})
}

func (p Plain) runAsUID(ctx context.Context, c Command, l Limits, timeout time.Duration) (Result, error) {
	ws, err := resolve(c.Dir)
	if err != nil {
		return Result{}, err
	}
	uid, cg, err := plainUIDs.get(ws, l)
	if err != nil {
		return Result{}, err
	}
	if err := handOver(ws, uid); err != nil {
		return Result{}, err
	}
	s := spec{env: Env(ws, ws), ulimit: l.ulimit(timeout, int64(l.Processes)), after: func() { killLeft(uid, cg) }}
	if err := cg.bornIn(&s); err != nil {
		return Result{}, err
	}
	c.Dir = ws
	if searchable(filepath.Dir(ws)) {
		s.cmd = exec.Command(bash(), "-c", c.Script)
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(uid)}
	} else {
		// Go changes the user before the directory, and the uid cannot pass
		// through the directories above this workspace: setpriv changes
		// user after the directory is entered.
		sp, err := lookPath("setpriv")
		if err != nil {
			return Result{}, fmt.Errorf("sandbox: %s is behind a directory other users cannot enter, and setpriv (util-linux) is not installed; use a work root under /tmp", ws)
		}
		s.cmd = exec.Command(sp, append(setprivArgs(uid), bash(), "-c", c.Script)...)
	}
	return run(ctx, c, l, s)
}

// Release kills every process left by the workspace's commands and forgets
// its uid. The runner calls it once the attempt is over.
func (Plain) Release(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	ws, err := filepath.EvalSymlinks(dir)
	if err != nil {
		ws = dir
	}
	if uid, cg, ok := plainUIDs.forget(ws); ok {
		return release(uid, cg)
	}
	return nil
}

// uids hands each workspace a uid (and cgroup, where there are any) of its own.
type uids struct {
	mu   sync.Mutex
	base uint32
	next uint32
	of   map[string]uint32
	cgs  map[string]*attemptCgroup
}

var plainUIDs = newUIDs()

func newUIDs() *uids {
	// Somewhere in [2^30+2^28, 2^30+2^29): above every real and subordinate
	// uid range in common use, apart from Bwrap's and from other goatbench
	// processes'.
	base, _ := uidBase(1<<30+1<<28, 1<<27)
	return &uids{base: base, of: map[string]uint32{}, cgs: map[string]*attemptCgroup{}}
}

func (u *uids) get(ws string, l Limits) (uint32, *attemptCgroup, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	id, ok := u.of[ws]
	if !ok {
		cg, err := newAttemptCgroup(l.Memory, int64(l.Processes))
		if err != nil {
			return 0, nil, err
		}
		id = u.base + u.next
		u.next++
		u.of[ws], u.cgs[ws] = id, cg
	}
	return id, u.cgs[ws], nil
}

func (u *uids) forget(ws string) (uint32, *attemptCgroup, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	id, ok := u.of[ws]
	cg := u.cgs[ws]
	delete(u.of, ws)
	delete(u.cgs, ws)
	return id, cg, ok
}

// KillUID kills every process of uid (only uids goatbench handed out: the
// runner uses it on what a killed run left). kill(-1, SIGKILL) sent by a process of
// that uid reaches all of them at once (the kernel walks the task list under
// a lock forks must wait for, so a fork bomb cannot outrun it); the walk of
// /proc after it checks, and repeats while anything is left.
func KillUID(uid uint32) {
	for range 10 {
		cmd := exec.Command(bash(), "-c", "kill -KILL -1")
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=" + searchPath}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(uid)}
		_ = cmd.Run()
		left := processesOf(uid)
		if len(left) == 0 {
			return
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// processesOf lists the live (not zombie) processes whose real uid is uid.
func processesOf(uid uint32) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := strconv.FormatUint(uint64(uid), 10)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var state, real string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					real = f[0]
				}
			}
		}
		if real == want && !strings.HasPrefix(state, "Z") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// resolve is a command's workspace as an absolute path without symlinks.
func resolve(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sandbox: workspace: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", workspaceErr(abs, err)
	}
	return real, nil
}

// workspaceErr is the error for a workspace that cannot be found. One that
// is gone while the directory it was in is not was removed or moved by a
// command of its own (plain mode, run as the caller, can): the model's doing.
func workspaceErr(ws string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		if _, perr := os.Stat(filepath.Dir(ws)); perr == nil {
			return fmt.Errorf("%w: it is gone (a command removed or moved it)", ErrWorkspace)
		}
	}
	return fmt.Errorf("sandbox: workspace: %w", err)
}

// handOver gives the workspace to its uid before a command. Goatbench, as
// root, can chown anything: what fails is the tree the commands built, which
// is the model's doing.
func handOver(ws string, uid uint32) error {
	if err := own(ws, int(uid)); err != nil {
		return fmt.Errorf("%w: hand the workspace to the command: %v", ErrWorkspace, err)
	}
	return nil
}

// ownerAccess gives the caller back its own access to a workspace, which a
// command run as the caller can take away (chmod 000 .): the next command
// could not even start in it, goatbench's error instead of the model's.
// Run by root, own does this and more.
func ownerAccess(ws string) error {
	fi, err := os.Stat(ws)
	if err != nil {
		return workspaceErr(ws, err)
	}
	if perm := fi.Mode().Perm(); perm&0o700 != 0o700 {
		if err := os.Chmod(ws, perm|0o700); err != nil {
			return fmt.Errorf("%w: give the workspace back to its owner: %v", ErrWorkspace, err)
		}
	}
	return nil
}

// credential is a workspace uid with no groups.
func credential(uid uint32) *syscall.Credential {
	return &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}
}

// setprivArgs become uid with no groups and no capabilities, after the
// directory is entered; the command follows.
func setprivArgs(uid uint32) []string {
	u := strconv.FormatUint(uint64(uid), 10)
	return []string{"--reuid=" + u, "--regid=" + u, "--clear-groups", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"}
}

// release kills what a workspace's uid left and removes its cgroup.
func release(uid uint32, cg *attemptCgroup) error {
	killLeft(uid, cg)
	if cg != nil {
		return cg.remove()
	}
	return nil
}

// uidBase is a random first uid in [from, from+span), so that goatbench
// processes running at once hand out different uids.
func uidBase(from, span uint32) (uint32, error) {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return from, err
	}
	return from + binary.BigEndian.Uint32(r[:])%span, nil
}
