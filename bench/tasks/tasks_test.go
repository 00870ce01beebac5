package tasks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const good = `id: t1
prompt: say hi
checks:
  - answer_contains: hi
reference:
  - answer: hi
`

func TestParseDefaults(t *testing.T) {
	task, err := Parse("t1.yaml", []byte(good))
	require.NoError(t, err)
	require.Equal(t, "t1", task.ID)
	require.Equal(t, DefaultMaxTurns, task.MaxTurns)
	require.Equal(t, DefaultTimeout, task.Timeout)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"syntax", "id: t1\nprompt: [unclosed\n", "t.yaml:1: did not find expected"},
		{"bad indentation", "id: t1\n  prompt: x\n bad: 1\n", "t.yaml:2: mapping values are not allowed"},
		{"empty file", "  \n", "t.yaml:1: the task file is empty"},
		{"bad mode", "id: t1\nprompt: hi\nsetup: [{path: x, content: y, mode: 99999999}]\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n", "is not a permission"},
		{"not a mapping", "- a\n- b\n", "t.yaml:1: a task file must be a mapping"},
		{"unknown field", good + "checkz: []\n", "t.yaml:7: checkz: unknown field (did you mean checks?)"},
		{"wrong type", "id: t1\nprompt: hi\nmax_turns: lots\n", "t.yaml:3:"},
		{"bad duration", "id: t1\nprompt: hi\ntimeout: soon\n", "t.yaml:3:"},
		{"no id", "prompt: hi\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n", "t.yaml:1: task has no id"},
		{"bad id", "id: Bad Id\nprompt: hi\n", "t.yaml:1: task id \"Bad Id\""},
		{"no prompt", "id: t1\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n", "has no prompt"},
		{"no checks", "id: t1\nprompt: hi\nreference: [{answer: x}]\n", "t.yaml:1: task t1 has no checks"},
		{"too many checks", "id: t1\nprompt: hi\nchecks: [" + strings.Repeat("{answer_contains: x}, ", MaxChecks) + "{answer_contains: x}]\nreference: [{answer: x}]\n",
			"t.yaml:3: task t1 has 1001 checks (at most 1000)"},
		{"two kinds in one check", "id: t1\nprompt: hi\nchecks: [{answer_contains: x, file_exists: y}]\nreference: [{answer: x}]\n", "t.yaml:3: task t1: check 1: set exactly one"},
		{"bad regexp", "id: t1\nprompt: hi\nchecks: [{answer_matches: '('}]\nreference: [{answer: x}]\n", "answer_matches: error parsing regexp"},
		{"escaping setup path", "id: t1\nprompt: hi\nsetup: [{path: ../x, content: y}]\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n", "t.yaml:3: task t1: setup file 1: path \"../x\" must be relative"},
		{"two tasks in one file", "id: t1\nprompt: hi\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n---\nid: t2\n", "t.yaml:6: a second YAML document (after ---); a file holds one"},
		{"a setup file inside another", "id: t1\nprompt: hi\nsetup: [{path: f, content: y}, {path: f/g, content: z}]\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n", "t.yaml:3: task t1: setup file 2 (\"f/g\") is inside setup file 1 (\"f\"), which is a file, not a folder"},
		{"a setup file given twice", "id: t1\nprompt: hi\nsetup: [{path: d/f, content: y}, {path: ./d//f, content: z}]\nchecks: [{answer_contains: x}]\nreference: [{answer: x}]\n", "t.yaml:3: task t1: setup files 1 and 2 are both \"d/f\""},
		{"absolute check path", "id: t1\nprompt: hi\nchecks: [{file_exists: /etc/passwd}]\nreference: [{answer: x}]\n", "must be relative"},
		{"unchanged not seeded", "id: t1\nprompt: hi\nchecks: [{file_unchanged: a.py}]\nreference: [{answer: x}]\n", "a.py is not a setup file"},
		{"exit code no process can give", "id: t1\nprompt: hi\nchecks: [{command: {run: 'exit 3', exit_code: 259}}]\nreference: [{answer: x}]\n", "check 1: command exit_code 259 is no exit status (0 to 255)"},
		{"command without run", "id: t1\nprompt: hi\nchecks: [{command: {exit_code: 0}}]\nreference: [{answer: x}]\n", "command needs run"},
		{"no reference", "id: t1\nprompt: hi\nchecks: [{answer_contains: x}]\n", "has no reference solution"},
		{"unknown tool", "id: t1\nprompt: hi\nchecks: [{answer_contains: x}]\nreference: [{tool: rm}, {answer: x}]\n", "unknown tool \"rm\""},
		{"no final answer", "id: t1\nprompt: hi\nchecks: [{answer_contains: x}]\nreference: [{tool: bash, args: {command: ls}}]\n", "must end with an answer step"},
		{"answer in the middle", "id: t1\nprompt: hi\nchecks: [{answer_contains: x}]\nreference: [{answer: x}, {answer: y}]\n", "only the last step may be the answer"},
		{"too many turns", "id: t1\nprompt: hi\nmax_turns: 1\nchecks: [{answer_contains: x}]\nreference: [{tool: bash, args: {command: ls}}, {answer: x}]\n", "takes 2 turns but max_turns is 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n", "errors are one line")
		})
	}
}

// TestParseErrorsInTaskTerms: a mistake is told with the field as written in
// the file and what to write instead, never with a Go type name.
func TestParseErrorsInTaskTerms(t *testing.T) {
	const tail = "checks: [{answer_contains: x}]\nreference: [{answer: x}]\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"misspelt check", "id: t1\nprompt: hi\nchecks:\n  - answer_containz: x\nreference: [{answer: x}]\n", "t.yaml:4: answer_containz: unknown field (did you mean answer_contains?)"},
		{"misspelt top field", "id: t1\nprompt: hi\nmax_turn: 3\n" + tail, "t.yaml:3: max_turn: unknown field (did you mean max_turns?)"},
		{"far-off field", "id: t1\nprompt: hi\nzzz: 3\n" + tail, "zzz: unknown field (known: id, tier, tags, prompt"},
		{"spelt-out duration", "id: t1\nprompt: hi\ntimeout: 5 minutes\n" + tail, `t.yaml:3: timeout: "5 minutes" is not a duration (use 5m)`},
		{"bare seconds", "id: t1\nprompt: hi\ntimeout: 300\n" + tail, `timeout: "300" is not a duration (use 300s for seconds)`},
		{"check timeout", "id: t1\nprompt: hi\nchecks: [{command: {run: ls, timeout: 2 secs}}]\nreference: [{answer: x}]\n", `t.yaml:3: timeout: "2 secs" is not a duration (use 2s)`},
		{"turns as text", "id: t1\nprompt: hi\nmax_turns: lots\n" + tail, `t.yaml:3: max_turns: "lots" is not a whole number`},
		{"duration too long", "id: t1\nprompt: hi\ntimeout: 9999999h\n" + tail, `t.yaml:3: timeout: "9999999h" is too long for a duration (at most 2562047h0m0s)`},
		{"unit alone", "id: t1\nprompt: hi\ntimeout: h\n" + tail, `timeout: "h" is not a duration`},
		{"turns too many", "id: t1\nprompt: hi\nmax_turns: 99999999999999999999\n" + tail, `t.yaml:3: max_turns: "99999999999999999999" is too large a number`},
		{"timeout too short", "id: t1\nprompt: hi\ntimeout: 1ns\n" + tail, `t.yaml:3: task t1: timeout 1ns is too short for an attempt (at least 1s)`},
		{"id too long", "id: " + strings.Repeat("a", 129) + "\nprompt: hi\n" + tail, `t.yaml:1: task id "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"... is 129 characters long (at most 128)`},
		{"prompt as list", "id: t1\nprompt: [a, b]\n" + tail, "t.yaml:2: prompt: must be text, not a list"},
		{"checks as mapping", "id: t1\nprompt: hi\nchecks: {answer_contains: x}\nreference: [{answer: x}]\n", "t.yaml:3: checks: must be a list, not a mapping"},
		{"args as list", "id: t1\nprompt: hi\nchecks: [{answer_contains: x}]\nreference: [{tool: bash, args: [ls]}, {answer: x}]\n", "args: must be a mapping of argument names to values, not a list"},
		{"mode as word", "id: t1\nprompt: hi\nsetup: [{path: a, content: b, mode: rwx}]\n" + tail, `mode: "rwx" is not a permission`},
		{"misspelt tier", "id: t1\ntier: judgment\nprompt: hi\n" + tail, `t.yaml:2: task t1: tier: unknown tier "judgment" (did you mean judgement? tiers: fidelity, multi-step, code, judgement)`},
		{"bad tag", "id: t1\ntags: [Big Files]\nprompt: hi\n" + tail, `tags: "Big Files" must be lower-case`},
		{"wrong without name", "id: t1\nprompt: hi\n" + tail + "wrong: [{steps: [{answer: y}]}]\n", "wrong: solution 1 has no name"},
		{"wrong without answer", "id: t1\nprompt: hi\n" + tail + "wrong: [{name: w, steps: [{tool: bash, args: {command: ls}}]}]\n", `wrong: wrong solution "w" must end with an answer step`},
		{"wrong misspelt steps", "id: t1\nprompt: hi\n" + tail + "wrong: [{name: w, step: []}]\n", "step: unknown field (did you mean steps?)"},
		{"wrong twice", "id: t1\nprompt: hi\n" + tail + "wrong: [{name: w, steps: [{answer: y}]}, {name: w, steps: [{answer: z}]}]\n", `two solutions are named "w"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			for _, goTerm := range []string{"time.Duration", "tasks.", "!!str", "unmarshal", "uint32", "map[string]"} {
				require.NotContains(t, err.Error(), goTerm)
			}
		})
	}
}

func TestWrongSolutions(t *testing.T) {
	task, err := Parse("t.yaml", []byte(good+"tier: code\ntags: [python]\nwrong:\n  - name: silent\n    steps:\n      - tool: bash\n        args: {command: ls}\n      - answer: bye\n"))
	require.NoError(t, err)
	require.Equal(t, "code", task.Tier)
	require.Equal(t, []string{"python"}, task.Tags)
	require.Len(t, task.Wrong, 1)
	require.Len(t, task.Wrong[0].Tools(), 1)
	require.Equal(t, "bye", task.Wrong[0].Answer())
}

func TestLoadSmoke(t *testing.T) {
	s, err := Load("smoke")
	require.NoError(t, err)
	var ids []string
	for _, task := range s.Tasks {
		ids = append(ids, task.ID)
	}
	require.ElementsMatch(t, []string{"math-simple", "file-create", "bash-command", "code-fix", "grep-search"}, ids)
	require.Len(t, s.Hash, 64)
	again, err := Load("smoke")
	require.NoError(t, err)
	require.Equal(t, s.Hash, again.Hash, "the hash is stable")
}

func TestLoadUnknownSuite(t *testing.T) {
	_, err := Load("nope")
	require.ErrorContains(t, err, `unknown suite "nope" (known: core, smoke)`)
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(good), 0o644))
	s, err := LoadDir(dir)
	require.NoError(t, err)
	require.Len(t, s.Tasks, 1)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(good), 0o644))
	_, err = LoadDir(dir)
	require.ErrorContains(t, err, `b.yaml: task id "t1" is already used by`)

	_, err = LoadDir(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "tasks dir")
	_, err = LoadDir(t.TempDir())
	require.ErrorContains(t, err, "has no task files")

	// Task files one folder down are not read: the error says where they are.
	top := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(top, "mine"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(top, "mine", "a.yaml"), []byte(good), 0o644))
	_, err = LoadDir(top)
	require.EqualError(t, err, "suite "+top+" has no task files (*.yaml or *.yml) of its own (folders in it are not read); "+filepath.Join(top, "mine")+" has some")
}

func TestDurations(t *testing.T) {
	task, err := Parse("t.yaml", []byte(good+"timeout: 90s\nmax_turns: 4\n"))
	require.NoError(t, err)
	require.Equal(t, 90*time.Second, task.Timeout)
	require.Equal(t, 4, task.MaxTurns)
}
