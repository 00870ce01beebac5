package agentcmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		return "", "", fmt.Errorf("the first word %q must be the agent's executable, a name on PATH or a path", first)
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

// command is the shell text run for one attempt: the executable by its
// absolute path, placeholders replaced by shell-quoted values.
func (a *Agent) command(prompt, promptFile, answerFile string) string {
	r := strings.NewReplacer(
		"{prompt_file}", shellQuote(promptFile),
		"{answer_file}", shellQuote(answerFile),
		"{prompt}", shellQuote(prompt),
	)
	return shellQuote(a.Exec) + r.Replace(a.rest)
}

// shellQuote quotes s for bash as one word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
