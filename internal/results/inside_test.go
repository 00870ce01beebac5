package results

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A run folder's files are read and written inside it, and only as regular
// files: a symlink leading out, or a FIFO, is refused, and nothing outside
// the folder is read or changed.
func TestRunFolderFilesStayInside(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("ghp_TOKEN"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "transcripts"), 0o755))
	require.NoError(t, os.Symlink(secret, filepath.Join(dir, "transcripts", "out.json")))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "transcripts", "m")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "transcripts", "fifo.json"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "transcripts", "ok.json"), []byte("{}"), 0o644))

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, rel := range []string{"transcripts/out.json", "transcripts/m/secret", "transcripts/fifo.json", "../" + filepath.Base(outside) + "/secret"} {
			_, err := ReadInside(dir, rel, 1<<20)
			require.Error(t, err, rel)
		}
		b, err := ReadInside(dir, "transcripts/ok.json", 1<<20)
		require.NoError(t, err)
		require.Equal(t, "{}", string(b))
		_, err = ReadInside(dir, "transcripts/ok.json", 1)
		require.ErrorContains(t, err, "larger than 1 bytes")

		// Written in place of the symlink or FIFO, never through it.
		require.NoError(t, WriteInside(dir, "transcripts/out.json", []byte("new")))
		require.NoError(t, WriteInside(dir, "transcripts/fifo.json", []byte("new")))
		require.Error(t, WriteInside(dir, "transcripts/m/x.json", []byte("new")), "a folder leading out")
		// Its folders made, and written over the second time.
		for _, data := range []string{"first", "second"} {
			require.NoError(t, WriteInside(dir, "transcripts/new/deep/x.json", []byte(data)))
			b, err := ReadInside(dir, "transcripts/new/deep/x.json", 1<<20)
			require.NoError(t, err)
			require.Equal(t, data, string(b))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a FIFO blocked")
	}
	b, err := os.ReadFile(secret)
	require.NoError(t, err)
	require.Equal(t, "ghp_TOKEN", string(b))
	require.NoFileExists(t, filepath.Join(outside, "x.json"))
	st, err := os.Lstat(filepath.Join(dir, "transcripts", "out.json"))
	require.NoError(t, err)
	require.True(t, st.Mode().IsRegular())
}

// results.jsonl and run.json are never written through a symlink a folder
// from elsewhere holds.
func TestTheResultsWriterWritesNoSymlinkTarget(t *testing.T) {
	dir, victim := t.TempDir(), victimFile(t)
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, AttemptsFile)))
	_, err := OpenWriter(dir)
	require.Error(t, err)
	require.NoError(t, os.Remove(filepath.Join(dir, AttemptsFile)))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, AttemptsFile), 0o644))
	_, err = OpenWriter(dir)
	require.Error(t, err, "a FIFO is no results stream")

	require.NoError(t, os.Symlink(victim, filepath.Join(dir, ManifestFile+".tmp")))
	require.NoError(t, WriteManifest(dir, Manifest{RunID: "r"}))
	untouched(t, victim)
	m, err := ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, "r", m.RunID)
}

// The run folder's lock and its run.json are no way out of it either: the
// lock writes a pid, and run.json is read whole.
func TestTheLockAndRunJSONStayInside(t *testing.T) {
	dir, victim := t.TempDir(), victimFile(t)
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, LockFile)))
	_, err := LockDir(dir)
	require.Error(t, err)
	untouched(t, victim)

	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, ManifestFile), 0o644))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, AttemptsFile), 0o644))
	done := make(chan error, 2)
	go func() {
		_, err := ReadManifest(dir)
		done <- err
		_, _, err = ReadAttempts(dir)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			require.ErrorContains(t, err, "not a regular file")
		case <-time.After(10 * time.Second):
			t.Fatal("a FIFO blocked")
		}
	}
}

// victimFile is a private file outside any run folder.
func victimFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.WriteFile(p, []byte("ghp_TOKEN"), 0o600))
	return p
}

// untouched checks that victimFile's file is as it was made.
func untouched(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, "ghp_TOKEN", string(b))
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
