package agentcmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfigs(t *testing.T) {
	got, err := ParseConfigs("goatbench.yaml", []byte(`
models: []          # the registry's; ignored here
agents:
  goat:
    command: goat eval --prompt-file {prompt_file} --answer-file {answer_file}
    env: {GOAT_LOG: debug}
    timeout: 10m
    answer: file
    mounts: [/opt/goat]
  short: goatbench agent
`))
	require.NoError(t, err)
	require.Equal(t, Config{Name: "goat", Command: "goat eval --prompt-file {prompt_file} --answer-file {answer_file}",
		Env: map[string]string{"GOAT_LOG": "debug"}, Timeout: 10 * time.Minute, Answer: AnswerFile, Mounts: []string{"/opt/goat"}}, got["goat"])
	require.Equal(t, Config{Name: "short", Command: "goatbench agent"}, got["short"])

	none, err := ParseConfigs("goatbench.yaml", []byte("models: []\n"))
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestParseConfigsRefuses(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"agents: [a]", "goatbench.yaml:1: agents: want a mapping"},
		{"agents:\n  builtin: x", "taken by goatbench's built-in loop"},
		{"agents:\n  Goat: x", `name "Goat"`},
		{"agents:\n  a:\n    comand: x", `goatbench.yaml:3: agents.a: unknown field "comand"`},
		{"agents:\n  a:\n    command: ''", "command is empty"},
		{"agents:\n  a:\n    command: x {promt}", "unknown placeholder {promt}"},
		{"agents:\n  a:\n    command: x {PROMPT}", "{PROMPT}: write {prompt}, lower case with no spaces"},
		{"agents:\n  a:\n    command: x { prompt_file }", "{ prompt_file }: write {prompt_file}"},
		{"agents:\n  a:\n    command: x\n    env: {GOATBENCH_PROMPT: hi}", "env GOATBENCH_PROMPT is set by goatbench"},
		{"agents:\n  a:\n    command: x\n    env: {GOATBENCH_SANDBOX_TASKS: '1'}", "env GOATBENCH_SANDBOX_TASKS is set by goatbench"},
		{"agents:\n  a:\n    command: x --in {prompt_file", "{prompt_file has no closing }"},
		{"agents:\n  a:\n    command: x --ask '{prompt}'", "{prompt} inside single quotes reaches the agent as text"},
		{"agents:\n  a:\n    command: x --ask $'{prompt}'", "{prompt} inside $'…' reaches the agent as text"},
		{"agents:\n  a:\n    command: python3 -c 'print(\"{prompt}\")'", "{prompt} inside single quotes"},
		{"agents:\n  a:\n    command: x \\{prompt}", "{prompt} after a backslash"},
		{"agents:\n  a:\n    command: x ${prompt}", "${prompt}: write {prompt}, without the $"},
		{"agents:\n  a:\n    command: \"cat <<'EOF'\\n{prompt}\\nEOF\"", "{prompt} in a heredoc whose delimiter is quoted stays text"},
		{"agents:\n  a:\n    command: x\n    answer: last", `answer "last"`},
		{"agents:\n  a:\n    command: x\n    answer: file", "file needs {answer_file}"},
		{"agents:\n  a:\n    command: x\n    timeout: soon", "agents.a:"},
		{"agents:\n  a:\n    command: x\n    mounts: [opt/x]", `mount "opt/x": use an absolute path`},
		{"agents:\n  a:\n    command: x\n    env: {OPENAI_API_KEY: k}", "env OPENAI_API_KEY is set by goatbench"},
		{"agents:\n  a:\n    command: x\n    env: {GITHUB_TOKEN: k}", "looks like a secret"},
		{"agents:\n  a:\n    command: x\n    env: {1X: k}", "not a variable name"},
		{"agents:\n  a:\n    command: FOO=1 x", "must be the agent's executable"},
		{"agents: {a: x, a: y}", "agents"},
		{"agents:\n  a: [x]", "want a command or a mapping"},
		{"agents: [", "goatbench.yaml:"},
	}
	for _, c := range cases {
		_, err := ParseConfigs("goatbench.yaml", []byte(c.yaml))
		require.ErrorContains(t, err, c.want, c.yaml)
		require.NotContains(t, err.Error(), "\n", "one line")
	}
}

func TestLoadAndResolve(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "goatbench.yaml")
	none, err := LoadConfigs(path)
	require.NoError(t, err)
	require.Empty(t, none)
	require.NoError(t, os.WriteFile(path, []byte("agents:\n  mine: /usr/bin/true {prompt}\n"), 0o644))
	configs, err := LoadConfigs(path)
	require.NoError(t, err)

	_, ok, err := Resolve("", configs)
	require.NoError(t, err)
	require.False(t, ok, "the built-in loop is the default")
	_, ok, _ = Resolve(Builtin, configs)
	require.False(t, ok)
	c, ok, err := Resolve("mine", configs)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "/usr/bin/true {prompt}", c.Command)
	c, ok, err = Resolve("bash -c 'echo {prompt}'", configs)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "bash -c 'echo {prompt}'", c.Command)
	_, _, err = Resolve("mnie", configs)
	require.ErrorContains(t, err, `agent "mnie": not an agent of goatbench.yaml (mine, builtin) nor a command on PATH`)
	_, _, err = Resolve("x {nope}", configs)
	require.ErrorContains(t, err, "unknown placeholder")
}

// Whatever quoting a template puts a placeholder in, its value reaches the
// agent as the text it is, and never as shell code: spliced in, even
// shell-quoted, a value inside quotes ended them, and `bash -c 'echo
// {prompt}'` ran a prompt's $(...) and its lines as commands.
func TestAPlaceholderIsItsValueInAnyQuoting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p f")
	require.NoError(t, os.WriteFile(file, []byte("the file's text"), 0o644))
	prompt := "it's \"$(touch " + dir + "/m1)\" `touch " + dir + "/m2`\ntouch " + dir + "/m3\n'; touch " + dir + "/m4; #\\n"
	for _, tc := range []struct{ template, want string }{
		{`/usr/bin/printf %s {prompt}`, prompt},
		{`/usr/bin/printf %s "{prompt}"`, prompt},
		{`/usr/bin/printf %s "[{prompt}]"`, "[" + prompt + "]"},
		{`/usr/bin/printf %s x{prompt}y`, "x" + prompt + "y"},
		{`/usr/bin/bash -c 'printf %s {prompt}'`, prompt},
		{`/usr/bin/bash -c 'printf %s "{prompt}"'`, prompt},
		{`/usr/bin/sh -c 'printf %s "<{prompt}>"'`, "<" + prompt + ">"},
		{"/usr/bin/cat <<EOF\n{prompt}\nEOF", prompt + "\n"},
		{`/usr/bin/printf %s:%s {prompt_file} "{answer_file}"`, "/p f:/a"},
		{`/usr/bin/bash -c 'cat "$1"' _ {prompt_file} # it's the file`, "the file's text"},
		{`/usr/bin/printf %s "$(/usr/bin/cat {prompt_file})"`, "the file's text"},
		{`/usr/bin/printf %s "${X:-{prompt}}"`, prompt},
		{`/usr/bin/bash -euo pipefail -c '/usr/bin/printf %s "{prompt}"'`, prompt},
		{"/usr/bin/printf %s \"`bash -c 'cat {prompt_file}'`\"", "the file's text"},
		{`/usr/bin/printf %s -e "P={prompt}"`, "-eP=" + prompt}, // an -e that takes a value, as docker run -e does
	} {
		a, err := Prepare(Config{Name: "q", Command: tc.template})
		require.NoError(t, err, tc.template)
		cmd := exec.Command("bash", "-c", a.command())
		values, err := a.placeholderEnv(prompt, file, "/a")
		require.NoError(t, err)
		cmd.Env = append(os.Environ(), values...)
		out, err := cmd.Output()
		require.NoError(t, err, tc.template)
		want := strings.ReplaceAll(tc.want, "/p f", file)
		require.Equal(t, want, string(out), tc.template)
	}
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		require.NoFileExists(t, filepath.Join(dir, m), "the prompt ran as code")
	}
}

// The prompt goes in the agent's environment only when its command has
// {prompt}: a variable holds at most MaxPromptVar bytes, and an agent that
// reads stdin or {prompt_file} takes a prompt of any length. Too long for
// {prompt}, it is said in a line.
func TestAPromptGoesInTheEnvironmentOnlyForPrompt(t *testing.T) {
	long := strings.Repeat("x", MaxPromptVar)
	file, err := Prepare(Config{Name: "f", Command: "/usr/bin/cat {prompt_file}"})
	require.NoError(t, err)
	values, err := file.placeholderEnv(long, "/p", "/a")
	require.NoError(t, err)
	require.Equal(t, []string{EnvPromptFile + "=/p", EnvAnswerFile + "=/a"}, values)
	arg, err := Prepare(Config{Name: "a", Command: "/usr/bin/printf %s {prompt}"})
	require.NoError(t, err)
	values, err = arg.placeholderEnv("short", "/p", "/a")
	require.NoError(t, err)
	require.Contains(t, values, EnvPrompt+"=short")
	_, err = arg.placeholderEnv(long, "/p", "/a")
	require.ErrorContains(t, err, "use {prompt_file} or stdin")
	cmd := exec.Command("/usr/bin/true")
	cmd.Env = []string{EnvPrompt + "=" + long[:MaxPromptVar-len(EnvPrompt)-2]}
	require.NoError(t, cmd.Run(), "the longest prompt the check lets through still runs")
}
