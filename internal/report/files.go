package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// The files WriteFiles puts into a run folder.
const (
	MarkdownFile = "report.md"
	SummaryFile  = "summary.json"
	JUnitFile    = "junit.xml"
	HTMLFile     = "report.html"
)

// StepSummaryEnv names the file GitHub Actions shows as the job summary.
const StepSummaryEnv = "GITHUB_STEP_SUMMARY"

// WriteFiles loads a run folder and writes report.md, summary.json, junit.xml
// and report.html into it; when GITHUB_STEP_SUMMARY is set it appends the
// markdown there too. Each file is written whole or not at all.
func WriteFiles(dir string) error {
	r, err := Load(dir)
	if err != nil {
		return err
	}
	return r.WriteFiles(dir)
}

// WriteFiles writes every report file of an already loaded run into dir.
func (r *Run) WriteFiles(dir string) error {
	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		return err
	}
	outputs := []struct {
		name  string
		write func(io.Writer) error
	}{
		{MarkdownFile, func(w io.Writer) error { _, err := w.Write(md.Bytes()); return err }},
		{SummaryFile, r.JSON},
		{JUnitFile, r.JUnit},
		{HTMLFile, r.HTML},
	}
	var errs []error
	for _, o := range outputs {
		if err := writeAtomic(filepath.Join(dir, o.name), o.write); err != nil {
			errs = append(errs, err)
		}
	}
	if p := os.Getenv(StepSummaryEnv); p != "" {
		if err := appendFile(p, md.Bytes()); err != nil {
			errs = append(errs, fmt.Errorf("job summary: %w", err))
		}
	}
	return errors.Join(errs...)
}

func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = write(f)
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// appendFile appends b and a newline to the regular file path: a FIFO with
// no reader there would block the write for ever (GitHub's job summary is a
// file, so anything else is refused).
func appendFile(path string, b []byte) error {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s: not a regular file", path)
	}
	_, err = f.Write(append(append([]byte{}, b...), '\n'))
	return errors.Join(err, f.Close())
}
