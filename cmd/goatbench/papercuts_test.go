package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestBuildVersion(t *testing.T) {
	info := func(main string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Version: main}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	for _, tc := range []struct {
		name, set string
		info      func() (*debug.BuildInfo, bool)
		want      string
	}{
		{"ldflags win", "v1.2.3", info("v0.0.0-20260102030405-0123456789ab"), "v1.2.3"},
		{"go install @version", "dev", info("v1.4.0"), "v1.4.0"},
		{"built from a clone: pseudo-version", "dev", info("v0.0.0-20260102030405-0123456789ab+dirty", "vcs.revision", "0123456789abcdef"), "v0.0.0-20260102030405-0123456789ab+dirty"},
		{"commit without a pseudo-version", "dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "true"), "dev-0123456789ab-dirty"},
		{"-buildvcs=false: nothing to go on", "dev", info("(devel)"), "dev"},
		{"no build info", "dev", none, "dev"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, buildVersion(tc.set, tc.info)) })
	}
}

// The real binary, built from this clone with VCS stamping on (CI's GOFLAGS
// turns it off, so the build asks for it), says its version from the commit.
func TestVersionFlagFromAClone(t *testing.T) {
	t.Parallel() // a build and processes of its own
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "goatbench")
	out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput()
	if err != nil && strings.Contains(string(out), "buildvcs") {
		t.Skipf("not a version-controlled clone here: %s", out)
	}
	require.NoError(t, err, "%s", out)
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	require.NoError(t, err)
	if !strings.Contains(string(meta), "vcs.revision=") {
		t.Skip("the toolchain stamped no commit (a git worktree, or no git): nothing to read the version from")
	}
	mod := regexp.MustCompile(`(?m)^\s*mod\s+\S+\s+(\S+)`).FindSubmatch(meta)
	require.NotNil(t, mod, "%s", meta)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		got, err := exec.Command(bin, args...).Output()
		require.NoError(t, err)
		require.Equal(t, "goatbench "+string(mod[1])+"\n", string(got))
		require.NotContains(t, string(got), " dev")
	}
}

func TestSuggestionsForMisspellings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--modles", "reference"}, "unknown flag: --modles (did you mean --models?)"},
		{[]string{"run", "--paralel", "2"}, "unknown flag: --paralel (did you mean --parallel?)"},
		{[]string{"report", "x", "--wdie"}, "(did you mean --wide or --write?)"},
		{[]string{"run", "--models", "referense"}, `unknown model "referense" (did you mean reference?)`},
		{[]string{"run", "--models", "qwen3-4", "--base-url", "http://127.0.0.1:1/v1"}, `(did you mean qwen3-4b?)`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := goatbench(t, append(tc.args, "--out", t.TempDir())...)
			require.Equal(t, exitUsage, code)
			require.Contains(t, stderr, tc.want)
		})
	}
	code, _, stderr := goatbench(t, "run", "--zzzzzz")
	require.Equal(t, exitUsage, code)
	require.NotContains(t, stderr, "did you mean", "no far-fetched guess")
}

// A whole number is read in base 10, leading zeros and all: not as octal.
func TestAWholeNumberFlagIsDecimal(t *testing.T) {
	for arg, want := range map[string]string{"010": `"parallel": 10`, "09": `"parallel": 9`, "+3": `"parallel": 3`} {
		out := t.TempDir()
		code, _, stderr := goatbench(t, "run", "--models", "reference", "--suite", "smoke", "--parallel", arg, "--out", out)
		require.Equal(t, 0, code, stderr)
		runs, err := filepath.Glob(filepath.Join(out, "*", "run.json"))
		require.NoError(t, err)
		require.Len(t, runs, 1)
		b, err := os.ReadFile(runs[0])
		require.NoError(t, err)
		require.Contains(t, string(b), want, arg)
	}
	_, stdout, _ := goatbench(t, "run", "--help")
	require.Contains(t, stdout, "--parallel int", "the help names its type")
	require.Contains(t, stdout, "(default 4)")
}

// A flag's value that is no number says what it must be, not which Go
// function refused it.
func TestBadFlagValuesSayWhatTheyMustBe(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--parallel", "abc"}, `invalid argument "abc" for "--parallel" flag: must be a whole number (see 'goatbench run --help')`},
		{[]string{"run", "--repeat", "1.5"}, `invalid argument "1.5" for "--repeat" flag: must be a whole number`},
		{[]string{"run", "--parallel", "99999999999999999999"}, `for "--parallel" flag: out of range`},
		{[]string{"run", "--temperature", "warm"}, `invalid argument "warm" for "--temperature" flag: must be a number`},
		{[]string{"run", "--parallel", "0x8"}, `invalid argument "0x8" for "--parallel" flag: must be a whole number`},
		{[]string{"agent", "--max-turns", "1_0"}, `invalid argument "1_0" for "--max-turns" flag: must be a whole number`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := goatbench(t, append(tc.args, "--out", t.TempDir())...)
			require.Equal(t, exitUsage, code)
			require.Contains(t, stderr, tc.want)
			require.NotContains(t, stderr, "strconv")
		})
	}
}

// An endpoint that cannot be reached before the run starts is a usage
// error, exit 2, and the README says so beside the exit codes.
func TestUnreachableBaseURLAgreesWithTheREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	codes := regexp.MustCompile("(?s)Exit codes:.*?\n\n").Find(readme)
	require.NotNil(t, codes)
	require.Regexp(t, "`2` usage or configuration error \\(an endpoint that cannot be\\s+reached before the run starts, such as a wrong `--base-url`, is one", string(codes))

	code, _, stderr := goatbench(t, "run", "--base-url", "http://127.0.0.1:1/v1", "--model-name", "m", "--out", t.TempDir())
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "cannot reach http://127.0.0.1:1/v1")
}

// Counts read as English: "1 model × 1 repeat", "1 turn", and a short run
// took 0.4s, not 0s.
func TestPluralsAndShortDurations(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(`id: one
prompt: answer ok
checks: [{answer_contains: ok}]
reference: [{answer: ok}]
`), 0o644))
	code, stdout, stderr := goatbench(t, "run", "--models", "reference", "--tasks-dir", dir, "--out", t.TempDir())
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, ": 1 task × 1 model × 1 repeat, sandbox ")
	require.Regexp(t, `PASS +reference  one #0  \d+\.\ds  1 turn  0 tool calls`, stderr)
	require.Regexp(t, `took \d+\.\ds`, stdout)
	require.NotContains(t, stdout, "took 0s")
	require.Contains(t, stdout, "1/1 passed, 0 failed, 0 errors — ")
	require.Contains(t, stdout, "1 model × 1 task × 1 repeat")
}

// A backquoted word in a flag's usage is pflag's placeholder for its value:
// "--env-suffix modal environment list" in --help. Every placeholder is one
// word.
func TestFlagPlaceholdersAreOneWord(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			require.NotContains(t, name, " ", "goatbench %s --%s shows %q as its value", c.Name(), f.Name, name)
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(streams{Out: io.Discard, Err: io.Discard}))
}

// The reference model knows a task by its prompt: a suite where two share
// one is refused before anything runs, rather than one of them answered
// with the other's reference and failed.
func TestTheReferenceModelRefusesTasksSharingAPrompt(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"alpha", "beta"} {
		task := "id: " + id + "\nprompt: Answer with the code word.\nchecks: [{answer_contains: " + id + "}]\nreference: [{answer: " + id + "}]\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, id+".yaml"), []byte(task), 0o644))
	}
	out := t.TempDir()
	code, _, stderr := goatbench(t, "run", "--models", "reference", "--tasks-dir", dir, "--out", out)
	require.Equal(t, exitUsage, code)
	require.Equal(t, "goatbench: the reference model tells tasks apart by their prompt, and tasks alpha and beta share one: give each its own\n", stderr)
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written")
}
