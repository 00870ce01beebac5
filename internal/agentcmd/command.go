package agentcmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/goatbench/goatbench/internal/sandbox"
)

// Agent is a Config whose executable and mounts were found on this machine,
// ready to run in any number of attempts.
type Agent struct {
	Config
	Exec string // the executable, absolute: shown read-only at this path in the sandbox
	rest string // the command after its first word
}

// Prepare finds the agent's executable (on PATH, or the path given) and its
// mounts, before anything runs. The error is one line.
func Prepare(c Config) (*Agent, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	first, rest, _ := split(c.Command)
	path, err := lookExecutable(first)
	if err != nil {
		return nil, fmt.Errorf("agent %q: %w", c.Name, err)
	}
	for _, m := range c.Mounts {
		if _, err := os.Stat(m); err != nil {
			return nil, fmt.Errorf("agent %q: mount %s: %w", c.Name, m, errors.Unwrap(err))
		}
	}
	return &Agent{Config: c, Exec: path, rest: rest}, nil
}

// split cuts a command template into its first word, the executable, and the
// rest. The first word must be a plain word: the executable is bound into the
// sandbox by that name, so it cannot come from shell expansion.
func split(command string) (first, rest string, err error) {
	command = strings.TrimSpace(command)
	i := strings.IndexAny(command, " \t\n")
	if i < 0 {
		i = len(command)
	}
	first, rest = command[:i], command[i:]
	if first == "" || strings.ContainsAny(first, "'\"`$\\;&|<>(){}*?[]~=#!") {
		return "", "", fmt.Errorf("the first word %q must be the agent's executable, a name on PATH or a path, as a plain word: no quotes, variables or other shell syntax", first)
	}
	return first, rest, nil
}

// lookExecutable finds the executable the first word names, on goatbench's
// own PATH (the sandbox's has only system directories) or as a path.
func lookExecutable(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		if strings.Contains(name, "/") {
			return "", fmt.Errorf("%s is not an executable file", name)
		}
		return "", fmt.Errorf("%s not found on PATH", name)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return abs, nil
}

// The environment variables that hold the placeholders' values.
const (
	EnvPrompt     = "GOATBENCH_PROMPT"
	EnvPromptFile = "GOATBENCH_PROMPT_FILE"
	EnvAnswerFile = "GOATBENCH_ANSWER_FILE"
)

// placeholders are what each placeholder of a command becomes: an expansion
// of the variable holding its value, ${V+"$V"}, never the value spliced into
// the text. A shell does not read an expansion's result as code, and that
// form is the value as one piece whether it stands unquoted or inside double
// quotes (bash and dash alike); inside single quotes it is left to the inner
// shell (bash -c 'echo {prompt}'). Spliced in, even shell-quoted, a value
// inside quotes ended them, and a task's prompt could run commands.
var placeholders = strings.NewReplacer(
	"{prompt_file}", expansion(EnvPromptFile),
	"{answer_file}", expansion(EnvAnswerFile),
	"{prompt}", expansion(EnvPrompt),
)

func expansion(name string) string { return "${" + name + `+"$` + name + `"}` }

// command is the shell text run for one attempt: the executable by its
// absolute path, then the rest with each placeholder made a reference to its
// variable (see placeholders and placeholderEnv).
func (a *Agent) command() string {
	return ShellQuote(a.Exec) + placeholders.Replace(a.rest)
}

// placeholderEnv is the placeholders' values, for the agent's environment.
// The prompt goes in only when the command has {prompt}: one variable holds
// at most MaxPromptVar bytes, and an agent that reads its prompt from stdin
// or {prompt_file} takes any.
func (a *Agent) placeholderEnv(prompt, promptFile, answerFile string) ([]string, error) {
	env := []string{EnvPromptFile + "=" + promptFile, EnvAnswerFile + "=" + answerFile}
	if !strings.Contains(a.rest, "{prompt}") {
		return env, nil
	}
	if len(EnvPrompt)+1+len(prompt) >= MaxPromptVar {
		return nil, fmt.Errorf("the task's prompt is %d bytes, more than the %d an environment variable holds for {prompt}: use {prompt_file} or stdin", len(prompt), MaxPromptVar)
	}
	return append(env, EnvPrompt+"="+prompt), nil
}

// MaxPromptVar is the most bytes one environment string holds, its name and
// = included, with its end: Linux's MAX_ARG_STRLEN, 32 pages of 4 KiB.
const MaxPromptVar = 32 * 4096

// ShellQuote quotes s for a shell (bash, sh) as one word.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CheckSandbox refuses, before anything runs, an agent that sb cannot run:
// goatbench run by root runs the commands of --sandbox plain as an
// unprivileged uid of their own (sandbox.Plain), with no group of any file's
// owner, so an executable that others cannot reach (under /root, or any
// 0700 folder) would fail every attempt with "Permission denied".
func (a *Agent) CheckSandbox(sb sandbox.Sandbox) error {
	if sb == nil || sb.Mode() != sandbox.ModePlain || os.Geteuid() != 0 {
		return nil
	}
	if why := unreachable(a.Exec); why != "" {
		return fmt.Errorf("agent %q: %s, and --sandbox plain run by root runs it as an unprivileged user: install it where every user can reach it, or use --sandbox bwrap", a.Name, why)
	}
	return nil
}

// unreachable says why a user of no group of the owners' cannot run the
// executable at path: a folder on the way (on the path as named, and on the
// one its symlinks lead to) others may not pass, or a file others may not
// execute (and, a script, read). "" when it can.
func unreachable(path string) string {
	paths := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
				return fmt.Sprintf("%s is in %s, which other users cannot enter", path, d)
			}
			if d == "/" {
				break
			}
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Sprintf("%s: %v", path, errors.Unwrap(err))
	}
	if fi.Mode().Perm()&0o001 == 0 {
		return fmt.Sprintf("%s is not executable by other users", path)
	}
	if fi.Mode().Perm()&0o004 == 0 && isScript(path) {
		return fmt.Sprintf("%s is a script other users cannot read", path)
	}
	return ""
}

// isScript reports whether the file starts with "#!": its interpreter then
// reads it as the user running it.
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := f.Read(b)
	return n == 2 && string(b) == "#!"
}
