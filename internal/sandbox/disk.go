package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// DefaultWorkspaceDisk is how much one attempt's workspace may hold where
// goatbench can enforce it (see MountWorkspace).
const DefaultWorkspaceDisk = 1 << 30

// MountWorkspace caps what an attempt's commands can write to its workspace,
// all files together: run by root, dir becomes a tmpfs of size bytes, so a
// command that writes without end fills its own workspace, not the disk
// every other attempt and the results live on. Its pages count against the
// attempt's memory cgroup as any tmpfs pages do. It reports false, and does
// nothing, when not run by root or size is not positive.
func MountWorkspace(dir string, size int64) (bool, error) {
	if os.Geteuid() != 0 || size <= 0 {
		return false, nil
	}
	opts := "size=" + strconv.FormatInt(size, 10) + ",mode=0700"
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return false, fmt.Errorf("sandbox: workspace tmpfs: %w", err)
	}
	return true, nil
}

// UnmountWorkspace undoes MountWorkspace (lazily: a process still inside
// does not keep it); a directory that is no mount point is left as it is.
func UnmountWorkspace(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		return nil
	}
	return fmt.Errorf("sandbox: unmount workspace: %w", err)
}
