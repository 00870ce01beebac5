package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
	"golang.org/x/sys/unix"
)

// WorkDirName is the one directory, under the work root, that holds every
// workspace: <work root>/goatbench-work/<run id>/<model>-<task>-r<n>-<random>.
const WorkDirName = "goatbench-work"

// keepFile marks a run's workspaces as kept (--keep-workspaces): no cleanup
// removes them.
const keepFile = ".keep"

// testHookRunDirMade, in tests, runs once a run's directory is made, before
// it is locked.
var testHookRunDirMade func()

// workDir is the directory of one run's workspaces, held locked for as long
// as the run goes on, so that another goatbench can tell it from leftovers.
type workDir struct {
	top, dir string
	lock     *results.Lock
	free     mountPoints
}

// openWorkDir prepares a run's workspace directory under root (the system
// temp dir when empty). First it removes what runs no longer alive left there
// (a killed run's in-flight workspaces, and the processes still running as
// their uids), this run's own included when resuming: only directories whose
// lock can be taken are touched, and kept ones never are.
func openWorkDir(root, runID string, keep bool) (*workDir, error) {
	if root == "" {
		root = os.TempDir()
	}
	top := filepath.Join(root, topName(os.Geteuid()))
	if err := makeTop(top); err != nil {
		return nil, fmt.Errorf("workspaces: %w", err)
	}
	name := unsafeName.ReplaceAllString(runID, "_")
	if name == "" || strings.HasPrefix(name, ".") {
		// "", "." and ".." would make the run's directory the one every
		// run's is in, or the work root itself, and its end remove them;
		// a leading dot marks a directory being made or removed.
		return nil, fmt.Errorf("workspaces: run id %q cannot name a folder", runID)
	}
	removeLeftovers(top)
	dir := filepath.Join(top, name)
	lock, err := lockRunDir(top, dir)
	if err != nil {
		return nil, fmt.Errorf("workspaces: %w", err)
	}
	if keep {
		if err := os.WriteFile(filepath.Join(dir, keepFile), nil, 0o644); err != nil {
			lock.Unlock()
			return nil, fmt.Errorf("workspaces: %w", err)
		}
	}
	return &workDir{top: top, dir: dir, lock: lock}, nil
}

// lockRunDir takes the run's directory, making it when it is not there (a
// run that is not resumed). A new one is made and locked under a name of its
// own, then renamed into place: seen unlocked for an instant under its final
// name, another goatbench's removeLeftovers would take it for a killed run's
// and remove it.
func lockRunDir(top, dir string) (*results.Lock, error) {
	for range 10 {
		lock, err := results.LockDir(dir)
		if !errors.Is(err, fs.ErrNotExist) {
			return lock, err
		}
		tmp, err := os.MkdirTemp(top, newDirPrefix)
		if errors.Is(err, fs.ErrNotExist) {
			// The last run of another goatbench removed the empty top.
			if err := makeTop(top); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if testHookRunDirMade != nil {
			testHookRunDirMade()
		}
		lock, err = results.LockDir(tmp)
		if err != nil {
			// Taken, between its making and its locking, for a leftover
			// by another goatbench, which removes it: make another.
			continue
		}
		err = os.Chmod(tmp, 0o755)
		if err == nil {
			err = os.Rename(tmp, dir)
		}
		if err == nil {
			return lock, nil
		}
		lock.Unlock()
		_ = os.RemoveAll(tmp)
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
			return nil, err
		}
		// Made by another process meanwhile: lock that one.
	}
	return nil, fmt.Errorf("lock %s: made and removed again and again", dir)
}

// makeTop makes the directory every run's directory is in. Every user passes
// through it: run by root, commands run as other uids. Another goatbench's
// last run may remove it, empty, at any moment: it is then made again.
func makeTop(top string) error {
	var err error
	for range 10 {
		err = os.MkdirAll(top, 0o755)
		if err == nil {
			// The work root is usually a shared /tmp: whoever made this name
			// first (a symlink to /etc, a folder of another user's) would
			// otherwise choose what the leftover cleanup removes.
			err = ownedDir(top)
		}
		if err == nil {
			err = os.Chmod(top, 0o755)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

// newDirPrefix names a run's directory while it is being made.
const newDirPrefix = ".new-"

// topName is the work root's folder for a user: root's is WorkDirName, and
// every other user has one of their own, so that one user's runs (or kept
// workspaces) never stop another's.
func topName(euid int) string {
	if euid == 0 {
		return WorkDirName
	}
	return fmt.Sprintf("%s-%d", WorkDirName, euid)
}

// ownedDir requires path to be a real directory (not a symlink) of this user.
func ownedDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory (%s); remove it, or set TMPDIR to another folder", path, fi.Mode().Type())
	case ok && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to uid %d, not to this user (uid %d); remove it, or set TMPDIR to another folder", path, st.Uid, os.Geteuid())
	}
	return nil
}

// close releases the run's directory and removes it unless workspaces are
// kept in it. It is renamed away (see removeLeftovers) before it is
// unlocked: unlocked under its own name, it could be taken by another
// goatbench resuming the same run id, whose directory the removal would
// then take with it.
func (w *workDir) close() error {
	if _, err := os.Stat(filepath.Join(w.dir, keepFile)); err == nil {
		return w.lock.Unlock()
	}
	dir := w.dir
	if gone := goneName(w.top); os.Rename(dir, gone) == nil {
		dir = gone
	}
	err := w.lock.Unlock()
	if testHookRunDirUnlocked != nil {
		testHookRunDirUnlocked()
	}
	err = errors.Join(err, removeTree(dir))
	// Only when no other run uses it; one that is making its directory
	// makes the top again (lockRunDir).
	_ = os.Remove(w.top)
	return err
}

// testHookRunDirUnlocked, in tests, runs once a closing run's directory is
// unlocked, before it is removed.
var testHookRunDirUnlocked func()

// goneName is a fresh name in top for a directory on its way out.
func goneName(top string) string {
	return filepath.Join(top, fmt.Sprintf("%s%d-%x", goneDirPrefix, os.Getpid(), rand.Uint64()))
}

// removeLeftovers removes the directories of runs that are over. A
// directory whose lock it takes is first renamed away (goneDirPrefix), and
// removed there. Removed in place, a run that opened its lock file in the
// instant between the unlinking of that file and the directory's removal
// (a run making its directory, or resuming it) would have made a new lock
// file, locked it, and had it unlinked in turn: its directory then looked
// unlocked to the next goatbench, which removed it under the live run.
func removeLeftovers(top string) {
	entries, err := os.ReadDir(top)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(top, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, keepFile)); err == nil {
			continue
		}
		lock, err := results.LockDir(dir)
		if err != nil {
			continue // a live run, or not ours to touch
		}
		if gone := goneName(top); os.Rename(dir, gone) == nil {
			if testHookLeftoverMoved != nil {
				testHookLeftoverMoved(dir)
			}
			_ = removeTree(gone)
		}
		lock.Unlock()
	}
}

// goneDirPrefix names a leftover run directory while it is being removed;
// one that a killed goatbench left half removed is a leftover like any.
const goneDirPrefix = ".gone-"

// testHookLeftoverMoved, in tests, runs once a leftover is renamed away,
// before it is removed.
var testHookLeftoverMoved func(dir string)

// removeTree removes a run's workspaces. A workspace owned by a uid of its
// own (goatbench run by root) may still have processes of that uid running,
// if goatbench was killed: they are killed first.
func removeTree(dir string) error {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid >= 1<<30 {
			sandbox.KillUID(st.Uid)
		}
		_ = sandbox.UnmountWorkspace(filepath.Join(dir, e.Name()))
	}
	_ = sandbox.MakeRemovable(dir)
	return os.RemoveAll(dir)
}

// mountPoints keeps the emptied directories of a run's finished tmpfs
// workspaces, for the next ones to be mounted on. On a busy ext4 disk making
// a directory cost 0.6 ms of CPU here (the inode allocator steps over each
// inode deleted in the last half minute), renaming one 17 µs. Each is
// renamed after its attempt as it is taken, so the work root still names
// every workspace, and kept under freeDirPrefix in between; the run's end
// and the leftover cleanup remove them with the rest of the run's directory.
type mountPoints struct {
	mu   sync.Mutex
	free []string
}

// freeDirPrefix names an emptied mount point waiting for its next workspace.
const freeDirPrefix = ".free-"

// maxFreeMountPoints bounds the directories kept: a run never has more
// workspaces at once than its parallelism.
const maxFreeMountPoints = 256

// make is a new directory in parent named name and a random suffix
// (os.MkdirTemp's), one kept when there is one.
func (p *mountPoints) make(parent, name string) (string, error) {
	if dir := p.take(); dir != "" {
		for range 10 {
			to := filepath.Join(parent, name+strconv.FormatUint(uint64(rand.Uint32()), 10))
			// No replacing: rename(2) would put it in place of an empty
			// directory of that name.
			err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
			if err == nil {
				return to, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				break // left for the run's end to remove
			}
		}
	}
	return os.MkdirTemp(parent, name)
}

// take is a kept directory, or "" when there is none.
func (p *mountPoints) take() string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.free)
	if n == 0 {
		return ""
	}
	dir := p.free[n-1]
	p.free = p.free[:n-1]
	return dir
}

// keep takes back dir, the mount point of a workspace that was just
// unmounted, when it is what make gave: a real directory of this user's,
// empty, that nobody else can enter (nothing the commands did reached it:
// they wrote to the tmpfs above it). It reports whether it kept it; a
// directory it did not keep is the caller's to remove.
func (p *mountPoints) keep(dir string) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	full := len(p.free) >= maxFreeMountPoints
	p.mu.Unlock()
	if full || !emptyPrivateDir(dir) {
		return false
	}
	to := filepath.Join(filepath.Dir(dir), freeDirPrefix+strconv.FormatUint(rand.Uint64(), 36))
	if unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE) != nil {
		return false
	}
	p.mu.Lock()
	p.free = append(p.free, to)
	p.mu.Unlock()
	return true
}

// emptyPrivateDir reports whether dir is a directory of this user's (not a
// symlink, nor a mount point still), mode 0700, with nothing in it.
func emptyPrivateDir(dir string) bool {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o7777 != 0o700 {
		return false
	}
	var up unix.Stat_t
	if unix.Stat(filepath.Dir(dir), &up) != nil || up.Dev != st.Dev {
		return false
	}
	var buf [256]byte
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err != nil {
			return false
		}
		if n == 0 {
			return true
		}
		// Only "." and ".." may be there.
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		if len(names) > 0 {
			return false
		}
	}
}
