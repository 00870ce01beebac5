package sandbox

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrWorkspace marks a failure caused by what a command left in its workspace
// (a tree too deep to walk, say): the model's doing, never goatbench's.
var ErrWorkspace = errors.New("the workspace is unusable")

// maxDepth bounds how deep the walks below go: one open directory per level.
const maxDepth = 4096

// walkAt calls fn on every entry below the directory dir, parents before
// their children, without ever building a path: each directory is opened
// relative to its parent (openat), so a tree deeper than PATH_MAX, which a
// model can build with a few mkdir and cd, is walked like any other. Symlinks
// are never followed. fn may change the entry (its mode, say) before its
// children are read.
func walkAt(dir string, fn func(dirfd int, name string, st *unix.Stat_t) error) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return walkFD(fd, 0, fn)
}

// walkFD walks the directory open at fd and closes it.
func walkFD(fd, depth int, fn func(dirfd int, name string, st *unix.Stat_t) error) error {
	d := os.NewFile(uintptr(fd), "dir")
	defer d.Close()
	if depth > maxDepth {
		return fmt.Errorf("%w: directories nested more than %d deep", ErrWorkspace, maxDepth)
	}
	for {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return fmt.Errorf("stat: %w", err)
			}
			if err := fn(fd, name, &st); err != nil {
				return err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				return fmt.Errorf("open: %w", err)
			}
			if err := walkFD(sub, depth+1, fn); err != nil {
				return err
			}
		}
		if err != nil || len(names) == 0 {
			return nil // io.EOF, or a directory removed under us
		}
	}
}

// MakeRemovable gives the owner full access to every directory of a workspace
// (commands may have left read-only ones), so that os.RemoveAll can delete it
// whatever its depth.
func MakeRemovable(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	return walkAt(dir, func(dirfd int, name string, st *unix.Stat_t) error {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Mode&0o700 != 0o700 {
			_ = unix.Fchmodat(dirfd, name, 0o700, 0)
		}
		return nil
	})
}
