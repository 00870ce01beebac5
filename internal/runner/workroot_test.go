package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Workspaces live under one root, named after their run and attempt, so what
// a killed run left is found and removed by the next run (and by --resume);
// a live run's and kept ones are left alone.
func TestWorkspacesLiveUnderOneRootAndLeftoversGo(t *testing.T) {
	root := searchableDir(t)
	top := filepath.Join(root, topName(os.Geteuid()))
	// A run killed mid-attempt: its workspace, and (run by root) a process of
	// the workspace's uid still running.
	stale := filepath.Join(top, "killed-run", "m-t-r0-123")
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "deep"), 0o755))
	var orphan *exec.Cmd
	if os.Geteuid() == 0 {
		// Its capped workspace is still mounted.
		mounted, err := sandbox.MountWorkspace(stale, 1<<20)
		require.NoError(t, err)
		require.True(t, mounted)
		t.Cleanup(func() { _ = sandbox.UnmountWorkspace(stale) })
		uid := uint32(1<<30 + 4242)
		require.NoError(t, os.Chown(stale, int(uid), int(uid)))
		orphan = exec.Command("sleep", "300")
		orphan.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}, Setsid: true}
		require.NoError(t, orphan.Start())
		t.Cleanup(func() { _ = orphan.Process.Kill(); _ = orphan.Wait() })
	}
	live := filepath.Join(top, "live-run")
	require.NoError(t, os.MkdirAll(live, 0o755))
	lock, err := results.LockDir(live)
	require.NoError(t, err)
	defer lock.Unlock()
	kept := filepath.Join(top, "kept-run")
	require.NoError(t, os.MkdirAll(kept, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(kept, keepFile), nil, 0o644))

	h := newHarness(t, oneTaskSuite(t, oneTask))
	h.opts.WorkRoot, h.opts.RunID, h.opts.KeepWorkspaces = root, "this-run", true
	got := h.run(t, context.Background())
	require.Len(t, got, 1)

	require.NoDirExists(t, filepath.Join(top, "killed-run"), "a killed run's workspaces are removed")
	if orphan != nil {
		state, err := orphan.Process.Wait()
		require.NoError(t, err)
		require.False(t, state.Exited(), "the orphan was killed, not left to finish")
	}
	require.DirExists(t, live, "a live run's workspaces stay")
	require.DirExists(t, kept, "kept workspaces stay")
	entries, err := os.ReadDir(filepath.Join(top, "this-run"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Len(t, names, 3, "the workspace, the lock and the keep mark: %v", names)
	found := false
	for _, n := range names {
		found = found || strings.HasPrefix(n, "m-"+got[0].Task+"-r0-")
	}
	require.True(t, found, "named after the attempt: %v", names)

	// Without --keep-workspaces nothing of the run stays.
	h = newHarness(t, oneTaskSuite(t, oneTask))
	h.opts.WorkRoot, h.opts.RunID = root, "next-run"
	h.run(t, context.Background())
	require.NoDirExists(t, filepath.Join(top, "next-run"))
}

// A command that writes without end fills its own workspace, capped, not the
// disk the work root and the results live on.
func TestAWorkspaceCannotFillTheDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the workspace cap is a tmpfs, mounted by root")
	}
	h := newHarness(t, oneTaskSuite(t, attackTask("fill-disk", "30s",
		bash("for i in 1 2 3 4 5; do head -c 20000000 /dev/zero > f$i || { echo full > status; break; }; done; du -sb . | cut -f1 > used"),
		"  - file_contains: {path: status, text: never}\n")))
	h.opts.WorkspaceDisk, h.opts.WorkRoot = 32<<20, searchableDir(t)
	h.opts.Sandbox = sandbox.Plain{}
	got := h.run(t, context.Background())
	require.Len(t, got, 1)
	require.Equal(t, results.StatusFail, got[0].Status, got[0].Reason)
	require.Equal(t, results.ClassChecksFailed, got[0].FailureClass)
	require.Contains(t, got[0].LastToolOutput, "No space left on device", "the writes stopped at the cap")
}

// Another goatbench cleaning leftovers while a run makes its directory must
// not take that directory for a leftover: the run's directory is never seen
// unlocked.
func TestARunDirBeingMadeIsNoLeftover(t *testing.T) {
	root := searchableDir(t)
	top := filepath.Join(root, WorkDirName)
	testHookRunDirMade = func() {
		testHookRunDirMade = nil
		removeLeftovers(top) // the other goatbench, just then
	}
	t.Cleanup(func() { testHookRunDirMade = nil })

	w, err := openWorkDir(root, "new-run", false)
	require.NoError(t, err)
	defer w.close()
	require.DirExists(t, w.dir)
	_, err = results.LockDir(w.dir)
	require.ErrorIs(t, err, results.ErrLocked, "the run holds its directory")
	removeLeftovers(top)
	require.DirExists(t, w.dir, "a live run's directory stays")
}

// A killed run resumed just as another goatbench removes its directory as
// a leftover gets a directory of its own that stays: the leftover is renamed
// away before its removal starts, so the resumed run never makes its lock
// file in a directory on its way out (where the removal would unlink that
// file, leaving the run's directory unlocked for the next goatbench to
// remove under it).
func TestALeftoverIsRenamedBeforeItIsRemoved(t *testing.T) {
	root := searchableDir(t)
	top := filepath.Join(root, WorkDirName)
	require.NoError(t, makeTop(top))
	dead := filepath.Join(top, "killed-run")
	require.NoError(t, os.MkdirAll(filepath.Join(dead, "ws"), 0o755))
	var resumed *workDir
	testHookLeftoverMoved = func(dir string) {
		testHookLeftoverMoved = nil
		require.Equal(t, dead, dir)
		w, err := openWorkDir(root, "killed-run", false) // resumed, just then
		require.NoError(t, err, "the leftover is no longer where the run looks")
		resumed = w
	}
	t.Cleanup(func() { testHookLeftoverMoved = nil })

	removeLeftovers(top)
	require.NotNil(t, resumed, "the leftover was removed")
	defer resumed.close()
	require.DirExists(t, resumed.dir)
	require.NoDirExists(t, filepath.Join(dead, "ws"), "the leftover's workspaces are gone")
	_, err := results.LockDir(resumed.dir)
	require.ErrorIs(t, err, results.ErrLocked, "the resumed run holds its directory")
	removeLeftovers(top)
	require.DirExists(t, resumed.dir, "a live run's directory stays")
	entries, err := os.ReadDir(top)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing of the leftover is left: %v", entries)
}

// A run that ends while another goatbench opens the same run id (a copied
// results folder resumed) does not take that run's directory with it: it is
// renamed away before it is unlocked.
func TestAClosingRunLeavesARunOfTheSameIDAlone(t *testing.T) {
	root := searchableDir(t)
	a, err := openWorkDir(root, "same-id", false)
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(a.dir, "a-workspace"), 0o755))
	var b *workDir
	testHookRunDirUnlocked = func() {
		testHookRunDirUnlocked = nil
		b, err = openWorkDir(root, "same-id", false) // just then
		require.NoError(t, err)
	}
	t.Cleanup(func() { testHookRunDirUnlocked = nil })
	require.NoError(t, a.close())
	require.NotNil(t, b, "the hook ran")
	defer b.close()
	require.Equal(t, a.dir, b.dir)
	require.NoDirExists(t, filepath.Join(b.dir, "a-workspace"), "b has a directory of its own")
	require.NoError(t, os.Mkdir(filepath.Join(b.dir, "b-workspace"), 0o755), "b's directory stays")
	_, err = results.LockDir(b.dir)
	require.ErrorIs(t, err, results.ErrLocked, "b holds its directory")
	entries, err := os.ReadDir(filepath.Dir(b.dir))
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing of a's is left: %v", entries)
}

// A run id that names no folder of its own is refused before anything is
// touched: "", "." and ".." would make the run's directory the one every
// run's is in (or the work root), which the run's end removes.
func TestARunIDThatNamesNoFolderIsRefused(t *testing.T) {
	root := searchableDir(t)
	top := filepath.Join(root, WorkDirName)
	other := filepath.Join(top, "another-run")
	require.NoError(t, os.MkdirAll(other, 0o755))
	lock, err := results.LockDir(other)
	require.NoError(t, err)
	defer lock.Unlock()
	for _, id := range []string{"", ".", "..", ".new-1", ".gone-1"} {
		w, err := openWorkDir(root, id, false)
		if err == nil {
			w.close()
		}
		require.Error(t, err, "run id %q", id)
		require.Contains(t, err.Error(), "cannot name a folder")
		require.DirExists(t, other, "run id %q: another run's directory stays", id)
		require.NoFileExists(t, filepath.Join(top, results.LockFile), "run id %q", id)
		require.NoFileExists(t, filepath.Join(root, results.LockFile), "run id %q", id)
	}
}

// The work root is a shared /tmp: a name another user made first, a symlink
// to a folder of theirs choosing or a folder of their own, is refused, and
// nothing behind it is touched.
func TestAWorkRootSomeoneElseMadeIsRefused(t *testing.T) {
	for name, plant := range map[string]func(t *testing.T, top, target string){
		"symlink": func(t *testing.T, top, target string) { require.NoError(t, os.Symlink(target, top)) },
		"file":    func(t *testing.T, top, target string) { require.NoError(t, os.WriteFile(top, nil, 0o644)) },
		"another user's": func(t *testing.T, top, target string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to make a folder of another uid")
			}
			require.NoError(t, os.Mkdir(top, 0o755))
			require.NoError(t, os.MkdirAll(filepath.Join(top, "their-run"), 0o755))
			require.NoError(t, os.Chown(top, 4321, 4321))
		},
	} {
		t.Run(name, func(t *testing.T) {
			root, target := t.TempDir(), t.TempDir()
			victim := filepath.Join(target, "victim")
			require.NoError(t, os.MkdirAll(victim, 0o755))
			top := filepath.Join(root, topName(os.Geteuid()))
			plant(t, top, target)
			_, err := openWorkDir(root, "run", false)
			require.Error(t, err)
			require.Contains(t, err.Error(), top)
			require.DirExists(t, victim, "nothing behind the planted name is removed")
			if name == "another user's" {
				require.DirExists(t, filepath.Join(top, "their-run"))
			}
		})
	}
	require.Equal(t, "goatbench-work", topName(0))
	require.Equal(t, "goatbench-work-1000", topName(1000), "each user has a folder of their own")
}

// A finished tmpfs workspace's emptied mount point is the next one's, under
// the next attempt's name: making a directory on a busy disk costs far more
// than renaming one. What an attempt wrote (a file, a folder left read-only,
// a process still running) went to its tmpfs and is gone with it; the
// directory kept is empty and root's.
func TestAFinishedWorkspacesMountPointIsTheNextOnes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the workspace is a tmpfs, mounted by root")
	}
	h := newHarness(t, oneTaskSuite(t, attackTask("litter", "10s",
		bash("mkdir -p keep/deep && echo x > keep/deep/f && chmod 500 keep && (sleep 30 &) && echo done"),
		"  - file_exists: keep\n")))
	h.opts.WorkRoot, h.opts.Sandbox, h.opts.Parallel, h.opts.Repeat = searchableDir(t), sandbox.Plain{}, 1, 3
	var seen []uint64 // the kept mount point's inode after each attempt
	h.opts.OnAttempt = func(results.Attempt) {
		dir := filepath.Join(h.opts.WorkRoot, topName(0), h.opts.RunID)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), freeDirPrefix) {
				continue
			}
			var st syscall.Stat_t
			require.NoError(t, syscall.Lstat(filepath.Join(dir, e.Name()), &st))
			require.Equal(t, uint32(syscall.S_IFDIR|0o700), st.Mode, "a private directory")
			require.Zero(t, st.Uid, "root's, not the workspace uid's")
			inside, err := os.ReadDir(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			require.Empty(t, inside, "nothing of the attempt")
			seen = append(seen, st.Ino)
		}
	}
	got := h.run(t, context.Background())
	require.Len(t, got, 3)
	for _, a := range got {
		require.Equal(t, results.StatusPass, a.Status, a.Reason)
	}
	require.Len(t, seen, 3, "one kept directory after each attempt")
	require.Equal(t, []uint64{seen[0], seen[0], seen[0]}, seen, "each attempt took the one the last left")
}

// Only an empty private directory of goatbench's own is kept for the next
// workspace: anything else is left to be removed.
func TestOnlyAnEmptyPrivateMountPointIsKept(t *testing.T) {
	parent := t.TempDir()
	var p mountPoints
	mk := func(name string, mode os.FileMode) string {
		d := filepath.Join(parent, name)
		require.NoError(t, os.Mkdir(d, 0o700))
		require.NoError(t, os.Chmod(d, mode))
		return d
	}
	full := mk("full", 0o700)
	require.NoError(t, os.WriteFile(filepath.Join(full, "f"), nil, 0o644))
	open := mk("open", 0o755)
	link := filepath.Join(parent, "link")
	require.NoError(t, os.Symlink(mk("target", 0o700), link))
	for _, d := range []string{full, open, link, filepath.Join(parent, "missing")} {
		require.False(t, p.keep(d), d)
	}
	if os.Geteuid() == 0 {
		still := mk("still-mounted", 0o700)
		mounted, err := sandbox.MountWorkspace(still, 1<<20)
		require.NoError(t, err)
		require.True(t, mounted)
		t.Cleanup(func() { _ = sandbox.UnmountWorkspace(still) })
		require.False(t, p.keep(still), "a tmpfs still there is no emptied mount point")
	}
	require.Empty(t, p.free)
	for _, d := range []string{full, open, link} {
		_, err := os.Lstat(d)
		require.NoError(t, err, "left where it was")
	}

	empty := mk("empty", 0o700)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(empty, &st))
	require.True(t, p.keep(empty))
	require.NoDirExists(t, empty, "moved aside")
	got, err := p.make(parent, "next-")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(filepath.Base(got), "next-"), got)
	var st2 syscall.Stat_t
	require.NoError(t, syscall.Stat(got, &st2))
	require.Equal(t, st.Ino, st2.Ino, "the same directory, renamed")
	again, err := p.make(parent, "next-")
	require.NoError(t, err)
	require.NotEqual(t, got, again, "none left: a new one")
	require.DirExists(t, again)
}
