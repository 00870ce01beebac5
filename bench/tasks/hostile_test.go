package tasks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Hostile task folders: each is refused with one line naming the file, at
// once (a FIFO must not block, a huge or endless file must not be read, a file
// outside the folder must not be read at all).
func TestHostileTaskFoldersAreRefused(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	require.NoError(t, os.WriteFile(outside, []byte("root:$y$j9T$secret-hash:19000:0:99999:7:::\n"), 0o600))
	for _, tc := range []struct {
		name string
		make func(t *testing.T, p string)
		want string
	}{
		{"fifo", func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o644)) }, "not a regular file"},
		{"symlink to /dev/zero", func(t *testing.T, p string) { require.NoError(t, os.Symlink("/dev/zero", p)) }, "outside the tasks dir"},
		{"symlink outside the folder", func(t *testing.T, p string) { require.NoError(t, os.Symlink(outside, p)) }, "outside the tasks dir"},
		{"1 GiB file", func(t *testing.T, p string) {
			f, err := os.Create(p)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(1<<30)) // sparse: costs no disk
			require.NoError(t, f.Close())
		}, "bigger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(good), 0o644))
			tc.make(t, filepath.Join(dir, "b.yaml"))
			_, err := LoadDir(dir)
			require.Error(t, err)
			require.Contains(t, err.Error(), "b.yaml")
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "secret-hash")
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestASymlinkInsideTheFolderIsFollowed(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "src"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "src", "t1.txt"), []byte(good), 0o644))
	require.NoError(t, os.Symlink("src/t1.txt", filepath.Join(dir, "a.yaml")))
	s, err := LoadDir(dir)
	require.NoError(t, err)
	require.Len(t, s.Tasks, 1)
}

func TestHostilePathsAndTimeoutsAreRefused(t *testing.T) {
	task := func(setupPath, extra string) string {
		return fmt.Sprintf("id: t1\nprompt: hi\ntimeout: 10s\nsetup: [{path: %q, content: y}]\nchecks: [{answer_contains: x}%s]\nreference: [{answer: x}]\n", setupPath, extra)
	}
	long := strings.Repeat("a/", 2100) + "x"
	for _, tc := range []struct{ name, yaml, want string }{
		{"NUL in a setup path", task("a\x00b", ""), "NUL"},
		{"setup path longer than the system allows", task(long, ""), "longer than"},
		{"one name longer than the system allows", task(strings.Repeat("n", 300), ""), "longer than"},
		{"NUL in a check path", task("a", ", {file_exists: \"x\\0y\"}"), "NUL"},
		{"check timeout past the task's", task("a", ", {command: {run: \"true\", timeout: 100s}}"), "longer than the task's timeout"},
		{"negative check timeout", task("a", ", {command: {run: \"true\", timeout: -1s}}"), "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// A file that is no task file at all (a copy of /etc/shadow, say) gets a few
// of its errors, not one line of error per line of file.
func TestManyErrorsAreCut(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, "user%d: x\n", i)
	}
	_, err := Parse("t.yaml", []byte(b.String()))
	require.Error(t, err)
	require.Less(t, len(err.Error()), 600, err.Error())
	require.LessOrEqual(t, strings.Count(err.Error(), "user"), 3, "the file's lines are not echoed back one by one: %s", err)
}

// Aliases merged into each other nine levels deep, nine times each: refused
// before anything expands them.
func TestAliasBombIsRefused(t *testing.T) {
	bomb := "&d0 {x: 1}"
	for i := 1; i <= 9; i++ {
		bomb = fmt.Sprintf("&d%d {<<: [%s%s]}", i, bomb, strings.Repeat(fmt.Sprintf(", *d%d", i-1), 8))
	}
	_, err := Parse("t.yaml", []byte("id: t1\nprompt: hi\nreference: [{tool: bash, args: "+bomb+"}, {answer: x}]\nchecks: [{answer_contains: x}]\n"))
	require.ErrorContains(t, err, "t.yaml:3: its aliases expand to more than")
}
