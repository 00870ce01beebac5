package results

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file a running goatbench holds locked in its run folder.
const LockFile = ".lock"

// ErrLocked is returned by Lock when another process holds the run folder.
var ErrLocked = errors.New("the run folder is in use")

// LockedError names the folder and the process holding it.
type LockedError struct {
	Dir string
	PID int // 0 when it could not be read
}

func (e *LockedError) Error() string {
	holder := "another goatbench"
	if e.PID > 0 {
		holder = fmt.Sprintf("goatbench pid %d", e.PID)
	}
	return fmt.Sprintf("%s is in use by %s; wait for it to end (or stop it) before resuming", e.Dir, holder)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// testHookOpened, in tests, runs between opening LockFile and locking it.
var testHookOpened func()

// Lock is a held run folder.
type Lock struct{ f *os.File }

// LockDir takes the run folder for this process, or fails at once with a
// *LockedError when another process holds it: two runs appending to the same
// stream would make every attempt twice. The lock is flock(2) on LockFile, so
// the kernel releases it when the process ends, however it ends; a stale
// LockFile left by a killed run locks nothing.
//
// A lock counts only while LockFile is still the file locked: between opening
// it and locking it another process may have removed the folder (a leftover)
// and a new run made it again with a LockFile of its own. Then the lock is
// taken again on the file now there.
func LockDir(dir string) (*Lock, error) {
	for range 10 {
		l, err := lockOnce(dir)
		if !errors.Is(err, errReplaced) {
			return l, err
		}
	}
	return nil, fmt.Errorf("lock %s: its lock file keeps being replaced", dir)
}

var errReplaced = errors.New("lock file replaced")

func lockOnce(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	// Never through a symlink a folder from elsewhere holds: the pid is
	// written into the file.
	f, err := openRegular(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if testHookOpened != nil {
		testHookOpened()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &LockedError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	now, err := os.Stat(path)
	if err != nil {
		f.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("lock %s: removed while being locked: %w", dir, err)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if !os.SameFile(held, now) {
		f.Close()
		return nil, errReplaced
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the folder.
func (l *Lock) Unlock() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
