package results

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// A run folder can come from anywhere (a downloaded artifact, a shard of
// another machine), so its files are opened inside it (os.Root: no path or
// symlink leads out) and only when they are regular files: a symlink to
// /etc/shadow or /dev/zero, or a FIFO that would block its reader, is none.

// MaxTranscript is the largest transcript read back: a transcript holds
// at most a few MiB of messages (the runner's limits), so anything larger
// was not written by goatbench.
const MaxTranscript = 64 << 20

// openRegular opens path with flag (and, with os.O_CREATE, perm) as a
// regular file only: never through a symlink at path, never blocking on a
// FIFO, and a folder, device or FIFO found there is refused.
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, nil
}

// OpenInside opens the regular file rel of the run folder dir for reading.
func OpenInside(dir, rel string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) && !filepath.IsAbs(pe.Path) {
			pe.Path = filepath.Join(dir, pe.Path) // which run folder's, among many
		}
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", filepath.Join(dir, rel))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadInside reads the regular file rel of the run folder dir, refusing one
// larger than limit bytes.
func ReadInside(dir, rel string, limit int64) ([]byte, error) {
	f, err := OpenInside(dir, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", filepath.Join(dir, rel), limit)
	}
	return b, err
}

// WriteInside writes data to rel inside the run folder dir as a new regular
// file, creating its folders, in place of whatever rel was (a file, a
// symlink, a FIFO).
func WriteInside(dir, rel string, data []byte) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// A new file first: what is usually so, in one call. Its folder is made
	// when it is missing, whatever is in its place is removed when there is
	// one.
	create := func() (*os.File, error) { return root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644) }
	f, err := create()
	if errors.Is(err, os.ErrNotExist) {
		if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			return err
		}
		f, err = create()
	}
	if errors.Is(err, os.ErrExist) {
		if err := root.Remove(rel); err != nil {
			return err
		}
		f, err = create()
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
