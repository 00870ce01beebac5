package yamlbound

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize is the largest YAML file read: the biggest real task files and
// registries are a few kilobytes.
const MaxFileSize = 4 << 20

// ReadFile reads the regular file path, of at most MaxFileSize bytes, without
// blocking: a FIFO, a device (/dev/zero) or a socket named where a file is
// expected is refused rather than read until the memory runs out, and a file
// growing as it is read stops at the limit. Its errors do not name the path:
// the caller says which file it was.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, pe.Err // errors.Is(err, fs.ErrNotExist) still holds
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case st.IsDir():
		return nil, errors.New("a folder, not a file")
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("not a regular file (%s)", Kind(st.Mode()))
	case st.Size() > MaxFileSize:
		return nil, fmt.Errorf("%d bytes, more than a YAML file here may hold (%d)", st.Size(), MaxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err == nil && len(b) > MaxFileSize {
		err = fmt.Errorf("more than a YAML file here may hold (%d bytes)", MaxFileSize)
	}
	return b, err
}

// Kind names what a file that is not a regular one is.
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.Type().String()
}
