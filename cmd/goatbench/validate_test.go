package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/runner"
)

func TestValidateReportsWrongSolutionsAndDeadChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	const task = `tier: fidelity
prompt: write hi and a newline to out.txt
checks:
  - file_exists: out.txt
  - name: exact bytes
    command: {run: "printf 'hi\n' | cmp - out.txt"}
  - answer_not_contains: banana
reference:
  - tool: write_file
    args: {path: out.txt, content: "hi\n"}
  - answer: done
wrong:
  - name: no newline
    steps:
      - tool: write_file
        args: {path: out.txt, content: "hi"}
      - answer: done
`
	write("a.yaml", "id: caught\n"+task)
	write("b.yaml", "id: slips\n"+task+`  - name: same as reference
    steps:
      - tool: write_file
        args: {path: out.txt, content: "hi\n"}
      - answer: done
`)
	code, out, errOut := run(t, "", "validate", "--tasks-dir", dir)
	require.Equal(t, exitFailed, code, out)
	require.Contains(t, errOut, "2 of 2 tasks are not sound")
	require.Regexp(t, `caught\s+fidelity\s+3\s+passes\s+fails\s+fails\s+1/1 fail\s+NO`, out)
	require.Regexp(t, `slips\s+fidelity\s+3\s+passes\s+fails\s+fails\s+1/2 fail\s+NO`, out)
	require.Regexp(t, `wrong: no newline\s+fails check 2\n`, out)
	require.Regexp(t, `wrong: same as reference\s+PASSES every check\n`, out)
	require.Contains(t, out, "check 2: exact bytes\n")
	require.Contains(t, out, `DEAD check 3 (answer does not contain "banana")`)

	code, out, errOut = run(t, "", "validate", "--tasks-dir", dir, "--tier", "code")
	require.Equal(t, exitUsage, code, out)
	require.Contains(t, errOut, "--tier code: no task of suite")
}

// A scripted attempt that could not be run shows as ERROR in the table,
// never as PASSES: its Fails flag is false because it never ran.
func TestValidateTableSaysErrorForAnAttemptThatCouldNotRun(t *testing.T) {
	v := runner.Soundness{
		Tries:     []runner.Try{{Name: "do nothing", Err: errors.New("workspace: mkdir: no space left on device")}, {Name: "echo prompt", Failed: []int{0}}},
		EchoFails: true,
	}
	require.Equal(t, "ERROR", tryCell(v, 0, v.NothingFails))
	require.Equal(t, "fails", tryCell(v, 1, v.EchoFails))
	v.Tries[0].Err = nil
	require.Equal(t, "PASSES", tryCell(v, 0, v.NothingFails), "ran and failed no check")
}
