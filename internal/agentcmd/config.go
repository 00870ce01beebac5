// Package agentcmd runs an external agent command for one attempt: in the
// attempt's workspace, in the same sandbox as tool commands, its model calls
// going through the attempt's recording proxy (internal/agentproxy), which
// holds the real key. It also reads the agents of goatbench.yaml.
package agentcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/yamlbound"
)

// Builtin names goatbench's own loop, the default agent; no entry may take it.
const Builtin = "builtin"

// Answer modes: where the final answer is read.
const (
	AnswerAuto   = ""       // the answer file when the agent wrote it, else stdout
	AnswerStdout = "stdout" // stdout only
	AnswerFile   = "file"   // the answer file only (for agents that log on stdout)
)

// Config is one entry of goatbench.yaml's agents: mapping.
//
//	agents:
//	  goat:
//	    command: goat eval --prompt-file {prompt_file} --answer-file {answer_file}
//	    env: {GOAT_LOG: debug}
//	    timeout: 10m
//	    answer: file
//	    mounts: [/opt/goat]
type Config struct {
	Name    string            `yaml:"-"`
	Command string            `yaml:"command"`
	Env     map[string]string `yaml:"env"`
	Timeout time.Duration     `yaml:"timeout"` // 0: the task's timeout
	Answer  string            `yaml:"answer"`
	Mounts  []string          `yaml:"mounts"` // host paths the agent needs (its runtime), shown read-only
}

// reserved are the variables goatbench sets for the agent; an entry cannot
// change them, so an agent always talks to its proxy with its dummy key.
var reserved = map[string]bool{
	"OPENAI_BASE_URL": true, "OPENAI_API_BASE": true, "LITELLM_BASE_URL": true,
	"OPENAI_API_KEY": true, "LITELLM_API_KEY": true, "OPENAI_MODEL": true,
	"HOME": true, "TMPDIR": true, "BASH_ENV": true,
	EnvPrompt: true, EnvPromptFile: true, EnvAnswerFile: true,
}

var knownFields = map[string]bool{"command": true, "env": true, "timeout": true, "answer": true, "mounts": true}

var (
	namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	envPattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// placeholder is a {word} (not a shell ${VAR}); misspelt is one of the
	// three in another case or with spaces, which would be passed on as
	// it is.
	placeholder = regexp.MustCompile(`(^|[^$])\{([a-z_]+)\}`)
	misspelt    = regexp.MustCompile(`(?i)\{\s*(prompt|prompt_file|answer_file)\s*\}`)
	// unclosed is a placeholder's start, to check it has its end.
	unclosed = regexp.MustCompile(`\{(prompt_file|answer_file|prompt)\b`)
)

// Validate checks an entry; the error is one line naming the field.
func (c Config) Validate() error {
	if c.Name == Builtin {
		return fmt.Errorf("agent %q: the name is taken by goatbench's built-in loop", c.Name)
	}
	if strings.TrimSpace(c.Command) == "" {
		return fmt.Errorf("agent %q: command is empty", c.Name)
	}
	if _, _, err := split(c.Command); err != nil {
		return fmt.Errorf("agent %q: command: %w", c.Name, err)
	}
	for _, m := range placeholder.FindAllStringSubmatch(c.Command, -1) {
		if !slices.Contains(placeholderNames, m[2]) {
			return fmt.Errorf("agent %q: command: unknown placeholder {%s} (use {prompt}, {prompt_file} or {answer_file})", c.Name, m[2])
		}
	}
	for _, m := range misspelt.FindAllStringSubmatch(c.Command, -1) {
		if name := strings.ToLower(m[1]); m[0] != "{"+name+"}" {
			return fmt.Errorf("agent %q: command: %s: write {%s}, lower case with no spaces", c.Name, m[0], name)
		}
	}
	for _, m := range unclosed.FindAllStringSubmatchIndex(c.Command, -1) {
		if !strings.HasPrefix(c.Command[m[1]:], "}") {
			return fmt.Errorf("agent %q: command: {%s has no closing }", c.Name, c.Command[m[2]:m[3]])
		}
	}
	if err := checkQuoting(c.Command); err != nil {
		return fmt.Errorf("agent %q: command: %w", c.Name, err)
	}
	switch c.Answer {
	case AnswerAuto, AnswerStdout, AnswerFile:
	default:
		return fmt.Errorf("agent %q: answer %q: use stdout or file", c.Name, c.Answer)
	}
	if c.Answer == AnswerFile && !strings.Contains(c.Command, "{answer_file}") {
		return fmt.Errorf("agent %q: answer: file needs {answer_file} in the command", c.Name)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("agent %q: timeout %s is negative", c.Name, c.Timeout)
	}
	for _, m := range c.Mounts {
		if !filepath.IsAbs(m) {
			return fmt.Errorf("agent %q: mount %q: use an absolute path", c.Name, m)
		}
	}
	for _, k := range sortedKeys(c.Env) {
		switch {
		case !envPattern.MatchString(k):
			return fmt.Errorf("agent %q: env %q is not a variable name", c.Name, k)
		case reserved[k] || strings.HasPrefix(k, "GOATBENCH_"):
			return fmt.Errorf("agent %q: env %s is set by goatbench (the agent's proxy, its key, a placeholder's value)", c.Name, k)
		case redact.IsSecretName(k):
			return fmt.Errorf("agent %q: env %s looks like a secret; secrets never reach agents (the proxy holds the model's key)", c.Name, k)
		}
	}
	return nil
}

// ParseConfigs reads the agents: mapping of a goatbench.yaml (other keys
// belong to the registry and are ignored here). file names it in errors.
func ParseConfigs(file string, data []byte) (map[string]Config, error) {
	var doc struct {
		Agents yaml.Node `yaml:"agents"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", file, oneLine(err.Error()))
	}
	out := map[string]Config{}
	if doc.Agents.Kind == 0 || doc.Agents.Tag == "!!null" {
		return out, nil
	}
	if doc.Agents.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: agents: want a mapping of names to agents", file, doc.Agents.Line)
	}
	for i := 0; i+1 < len(doc.Agents.Content); i += 2 {
		k, v := doc.Agents.Content[i], doc.Agents.Content[i+1]
		name := k.Value
		if !namePattern.MatchString(name) {
			return nil, fmt.Errorf("%s:%d: agents: name %q: use lower-case letters, digits, '.', '_' and '-'", file, k.Line, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: agents: %q is defined twice", file, k.Line, name)
		}
		var c Config
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
			c.Command = v.Value // the short form: name: command
		} else {
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s:%d: agents.%s: want a command or a mapping with command, env, timeout, answer, mounts", file, v.Line, name)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if f := v.Content[j]; !knownFields[f.Value] {
					return nil, fmt.Errorf("%s:%d: agents.%s: unknown field %q (use command, env, timeout, answer, mounts)", file, f.Line, name, f.Value)
				}
			}
			if err := v.Decode(&c); err != nil {
				return nil, fmt.Errorf("%s:%d: agents.%s: %s", file, v.Line, name, yamlReason(err))
			}
		}
		c.Name = name
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, v.Line, err)
		}
		out[name] = c
	}
	return out, nil
}

// LoadConfigs reads the agents of a goatbench.yaml; a missing file has none.
func LoadConfigs(path string) (map[string]Config, error) {
	data, err := yamlbound.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ParseConfigs(path, data)
}

// Resolve picks the agent --agent names: builtin (or "") gives ok=false, a
// name in configs gives that entry, and anything else is taken as a command
// template itself (`--agent 'goat eval --prompt-file {prompt_file}'`).
func Resolve(arg string, configs map[string]Config) (c Config, ok bool, err error) {
	arg = strings.TrimSpace(arg)
	if arg == "" || arg == Builtin {
		return Config{}, false, nil
	}
	if c, found := configs[arg]; found {
		return c, true, nil
	}
	c = Config{Name: arg, Command: arg}
	if !strings.ContainsAny(arg, " \t{") && namePattern.MatchString(arg) {
		// One bare word: a typo of an entry's name as likely as a command.
		if _, lerr := lookExecutable(arg); lerr != nil {
			names := sortedKeys(configs)
			return Config{}, false, fmt.Errorf("agent %q: not an agent of goatbench.yaml (%s) nor a command on PATH", arg, strings.Join(append(names, Builtin), ", "))
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, false, err
	}
	return c, true, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// yamlReason turns yaml.v3's multi-line type errors into one line.
func yamlReason(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return oneLine(te.Errors[0])
	}
	return oneLine(strings.TrimPrefix(err.Error(), "yaml: "))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
