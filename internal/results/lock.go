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

// Lock is a held run folder.
type Lock struct{ f *os.File }

// LockDir takes the run folder for this process, or fails at once with a
// *LockedError when another process holds it: two runs appending to the same
// stream would make every attempt twice. The lock is flock(2) on LockFile, so
// the kernel releases it when the process ends, however it ends; a stale
// LockFile left by a killed run locks nothing.
func LockDir(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
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
