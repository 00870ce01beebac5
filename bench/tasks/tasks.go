// Package tasks holds the task suites (YAML files embedded in the binary), the
// task schema and its loader.
package tasks

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/goatbench/goatbench/internal/yamlbound"
)

//go:embed */*.yaml
var embedded embed.FS

// Task is one verifiable piece of agentic work.
type Task struct {
	ID        string        `yaml:"id"`
	Tier      string        `yaml:"tier"` // one of Tiers, or none
	Tags      []string      `yaml:"tags"`
	Prompt    string        `yaml:"prompt"`
	MaxTurns  int           `yaml:"max_turns"`
	Timeout   time.Duration `yaml:"timeout"`
	Setup     []File        `yaml:"setup"`
	Checks    []Check       `yaml:"checks"`
	Reference []Step        `yaml:"reference"`
	// Wrong are plausible mistakes; validate requires each to fail a check.
	Wrong   []Solution `yaml:"wrong"`
	Sandbox Sandbox    `yaml:"sandbox"` // a remote sandbox's image and size

	file string // where the task was loaded from, for messages
}

// File is a file written into the workspace before an attempt starts.
type File struct {
	Path    string `yaml:"path"`
	Content string `yaml:"content"`
	Mode    uint32 `yaml:"mode"` // permission bits; 0 means 0644
}

// Check is one verdict on an attempt. Exactly one of its fields is set.
type Check struct {
	// Label, when set, names the check in results and reports instead of its
	// text (a command check's script says little at a glance).
	Label string `yaml:"name"`
	// AnswerContains passes when the final answer contains the text as a whole
	// word (case-insensitive), so "3910" does not pass for "391".
	AnswerContains string `yaml:"answer_contains"`
	// AnswerNotContains passes when the final answer does not contain the text
	// as a whole word: a model that names every candidate must not pass.
	AnswerNotContains string `yaml:"answer_not_contains"`
	// AnswerMatches passes when the final answer matches the regular expression.
	AnswerMatches string `yaml:"answer_matches"`
	// FileExists passes when the path exists in the workspace.
	FileExists string `yaml:"file_exists"`
	// FileContains passes when the file exists and contains the text.
	FileContains *FileText `yaml:"file_contains"`
	// FileUnchanged passes when a setup file is byte-for-byte as it was seeded.
	FileUnchanged string `yaml:"file_unchanged"`
	// Command passes when the command, run in the workspace, exits as expected
	// and its output matches.
	Command *CommandCheck `yaml:"command"`
}

// FileText names a file and a text it must contain.
type FileText struct {
	Path string `yaml:"path"`
	Text string `yaml:"text"`
}

// CommandCheck runs a shell command in the workspace.
type CommandCheck struct {
	Run            string        `yaml:"run"`
	ExitCode       int           `yaml:"exit_code"`
	OutputContains string        `yaml:"output_contains"`
	OutputMatches  string        `yaml:"output_matches"`
	Timeout        time.Duration `yaml:"timeout"`
}

// Step is one turn of a reference solution: either one tool call or the final answer.
type Step struct {
	Tool   string         `yaml:"tool"`
	Args   map[string]any `yaml:"args"`
	Answer string         `yaml:"answer"`
}

// ArgsJSON is the step's arguments as a tool call carries them.
func (s Step) ArgsJSON() string {
	if s.Args == nil {
		return "{}"
	}
	b, err := json.Marshal(s.Args)
	if err != nil { // yaml decoding only yields JSON-encodable values
		return "{}"
	}
	return string(b)
}

// Suite is a named, ordered set of tasks.
type Suite struct {
	Name  string
	Hash  string // sha256 of every task file's name and content
	Tasks []Task
}

// Default limits for a task that sets none.
const (
	DefaultMaxTurns = 10
	DefaultTimeout  = 5 * time.Minute
	// MinTimeout is the shortest timeout a task may set.
	MinTimeout = time.Second
)

// Tools are the tools a task's reference solution may call; the agent offers the same.
var Tools = []string{"bash", "read_file", "write_file", "list_dir"}

// Names lists the embedded suites.
func Names() []string {
	entries, _ := fs.ReadDir(embedded, ".")
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// Load returns an embedded suite by name.
func Load(name string) (Suite, error) {
	sub, err := fs.Sub(embedded, name)
	if err == nil {
		var entries []fs.DirEntry
		if entries, err = fs.ReadDir(sub, "."); err == nil && len(entries) > 0 {
			return load(name, sub, name)
		}
	}
	return Suite{}, fmt.Errorf("unknown suite %q (known: %s)", name, strings.Join(Names(), ", "))
}

// LoadDir loads a suite from a directory of YAML files on disk.
func LoadDir(dir string) (Suite, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return Suite{}, fmt.Errorf("tasks dir: %w", err)
	}
	if !info.IsDir() {
		return Suite{}, fmt.Errorf("tasks dir %s is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Suite{}, fmt.Errorf("tasks dir: %w", err)
	}
	defer root.Close()
	return load(filepath.Base(filepath.Clean(dir)), diskFS{root}, dir)
}

// setupFitsTogether refuses setup files that cannot all be made: one path
// twice, or a file where another needs a folder (f and f/g). Refused here,
// every attempt would have failed to seed its workspace, goatbench's error
// for the task file's mistake.
func setupFitsTogether(files []File) error {
	at := map[string]int{}
	for i, f := range files {
		p := path.Clean(f.Path)
		if j, ok := at[p]; ok {
			return fmt.Errorf("setup files %d and %d are both %q", j+1, i+1, p)
		}
		at[p] = i
	}
	for i, f := range files {
		for d := path.Dir(path.Clean(f.Path)); d != "." && d != "/"; d = path.Dir(d) {
			if j, ok := at[d]; ok {
				return fmt.Errorf("setup file %d (%q) is inside setup file %d (%q), which is a file, not a folder", i+1, f.Path, j+1, files[j].Path)
			}
		}
	}
	return nil
}

// MaxFileSize is the largest task file accepted; the biggest real ones,
// setup files included, are a few kilobytes.
const MaxFileSize = yamlbound.MaxFileSize

// diskFS reads a tasks dir without trusting it: a symlink leading out of the
// folder (to /dev/zero, or to /etc/shadow) is refused by os.Root, a FIFO or a
// device is refused without blocking, and a file bigger than MaxFileSize is
// refused without being read.
type diskFS struct{ root *os.Root }

func (d diskFS) Open(name string) (fs.File, error) {
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if strings.Contains(err.Error(), "escapes from parent") {
			return nil, fmt.Errorf("%s: a link to outside the tasks dir", name)
		}
		return nil, err
	}
	st, err := f.Stat()
	switch {
	case err != nil:
	case st.IsDir():
		return f, nil
	case !st.Mode().IsRegular():
		err = fmt.Errorf("%s: not a regular file (%s)", name, yamlbound.Kind(st.Mode()))
	case st.Size() > MaxFileSize:
		err = fmt.Errorf("%s: %d bytes, bigger than a task file may be (%d)", name, st.Size(), MaxFileSize)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFile reads at most MaxFileSize bytes, even of a file growing as it is read.
func (d diskFS) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err == nil && len(b) > MaxFileSize {
		err = fmt.Errorf("%s: bigger than a task file may be (%d bytes)", name, MaxFileSize)
	}
	return b, err
}

func load(name string, fsys fs.FS, shown string) (Suite, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return Suite{}, err
	}
	yml, _ := fs.Glob(fsys, "*.yml")
	files = append(files, yml...)
	sort.Strings(files)
	if len(files) == 0 {
		if nested, _ := fs.Glob(fsys, "*/*.y*ml"); len(nested) > 0 {
			return Suite{}, fmt.Errorf("suite %s has no task files (*.yaml or *.yml) of its own (folders in it are not read); %s has some", shown, filepath.Join(shown, path.Dir(nested[0])))
		}
		return Suite{}, fmt.Errorf("suite %s has no task files (*.yaml or *.yml)", shown)
	}
	h := sha256.New()
	s := Suite{Name: name}
	seen := map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return Suite{}, fmt.Errorf("%s: %w", shown, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
		display := path.Join(shown, f)
		t, err := Parse(display, b)
		if err != nil {
			return Suite{}, err
		}
		if prev, ok := seen[t.ID]; ok {
			return Suite{}, fmt.Errorf("%s: task id %q is already used by %s", display, t.ID, prev)
		}
		seen[t.ID] = display
		s.Tasks = append(s.Tasks, t)
	}
	s.Hash = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// MaxIDLength is the longest task id.
const MaxIDLength = 128

// MaxChecks is the most checks a task may have: every attempt's results line
// holds all their verdicts, and must stay one a reader takes.
const MaxChecks = 1000

// Parse decodes and validates one task file. Errors name the file and line.
func Parse(file string, data []byte) (Task, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Task{}, fmt.Errorf("%s:1: the task file is empty", file)
	}
	var doc yaml.Node
	if err := yamlbound.Single(data, &doc); err != nil {
		return Task{}, yamlError(file, err)
	}
	if err := yamlbound.Check(&doc, 0); err != nil {
		return Task{}, yamlError(file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return Task{}, fmt.Errorf("%s:1: a task file must be a mapping (id, prompt, checks, reference)", file)
	}
	root := doc.Content[0]
	if err := lint(file, root); err != nil {
		return Task{}, err
	}
	var t Task
	// Decode strictly so a misspelt field is an error, not a silently ignored key.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&t); err != nil {
		return Task{}, yamlError(file, err)
	}
	t.file = file
	fail := func(key string, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", file, lineOf(root, key), fmt.Sprintf(format, a...))
	}
	if t.ID == "" {
		return Task{}, fail("id", "task has no id")
	}
	if !idPattern.MatchString(t.ID) {
		return Task{}, fail("id", "task id %q must be lower-case letters, digits, '.', '_' or '-'", t.ID)
	}
	if len(t.ID) > MaxIDLength { // ASCII by now: bytes are characters
		// It names the attempt's workspace folder and its transcript file,
		// which a file system caps at 255 bytes.
		return Task{}, fail("id", "task id %.40q... is %d characters long (at most %d)", t.ID, len(t.ID), MaxIDLength)
	}
	if strings.TrimSpace(t.Prompt) == "" {
		return Task{}, fail("prompt", "task %s has no prompt", t.ID)
	}
	if t.MaxTurns < 0 || t.Timeout < 0 {
		return Task{}, fail("max_turns", "task %s: max_turns and timeout must not be negative", t.ID)
	}
	if t.Timeout > 0 && t.Timeout < MinTimeout {
		// Shorter, the attempt ends before the model's first reply could
		// come, and that would read as the server's failure.
		return Task{}, fail("timeout", "task %s: timeout %s is too short for an attempt (at least %s)", t.ID, t.Timeout, MinTimeout)
	}
	if t.MaxTurns == 0 {
		t.MaxTurns = DefaultMaxTurns
	}
	if t.Timeout == 0 {
		t.Timeout = DefaultTimeout
	}
	for i, f := range t.Setup {
		if err := checkRelPath(f.Path); err != nil {
			return Task{}, fail("setup", "task %s: setup file %d: %v", t.ID, i+1, err)
		}
		if f.Mode > 0o777 {
			return Task{}, fail("setup", "task %s: setup file %d: mode %o is not a permission (0 to 0777)", t.ID, i+1, f.Mode)
		}
	}
	if err := setupFitsTogether(t.Setup); err != nil {
		return Task{}, fail("setup", "task %s: %v", t.ID, err)
	}
	if err := t.Sandbox.validate(); err != nil {
		return Task{}, fail("sandbox", "task %s: %v", t.ID, err)
	}
	if len(t.Checks) == 0 {
		return Task{}, fail("checks", "task %s has no checks: nothing could tell a pass from a fail", t.ID)
	}
	if len(t.Checks) > MaxChecks {
		return Task{}, fail("checks", "task %s has %d checks (at most %d)", t.ID, len(t.Checks), MaxChecks)
	}
	for i, c := range t.Checks {
		if err := c.validate(t); err != nil {
			return Task{}, fail("checks", "task %s: check %d: %v", t.ID, i+1, err)
		}
	}
	if len(t.Reference) == 0 {
		return Task{}, fail("reference", "task %s has no reference solution", t.ID)
	}
	if err := validateSteps(t.Reference, "the reference solution"); err != nil {
		return Task{}, fail("reference", "task %s: %v", t.ID, err)
	}
	if err := t.validateMeta(func(key, format string, a ...any) error {
		return fail(key, "task %s: %s", t.ID, fmt.Sprintf(format, a...))
	}); err != nil {
		return Task{}, err
	}
	if len(t.Reference) > t.MaxTurns {
		return Task{}, fail("reference", "task %s: the reference solution takes %d turns but max_turns is %d", t.ID, len(t.Reference), t.MaxTurns)
	}
	return t, nil
}

func (c Check) validate(t Task) error {
	set := 0
	for _, b := range []bool{c.AnswerContains != "", c.AnswerNotContains != "", c.AnswerMatches != "", c.FileExists != "", c.FileContains != nil, c.FileUnchanged != "", c.Command != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return errors.New("set exactly one of answer_contains, answer_not_contains, answer_matches, file_exists, file_contains, file_unchanged, command")
	}
	switch {
	case c.AnswerMatches != "":
		if _, err := regexp.Compile(c.AnswerMatches); err != nil {
			return fmt.Errorf("answer_matches: %v", err)
		}
	case c.FileExists != "":
		return checkRelPath(c.FileExists)
	case c.FileContains != nil:
		if c.FileContains.Text == "" {
			return errors.New("file_contains needs a text")
		}
		return checkRelPath(c.FileContains.Path)
	case c.FileUnchanged != "":
		if !slices.ContainsFunc(t.Setup, func(f File) bool { return path.Clean(f.Path) == path.Clean(c.FileUnchanged) }) {
			return fmt.Errorf("file_unchanged: %s is not a setup file", c.FileUnchanged)
		}
	case c.Command != nil:
		if strings.TrimSpace(c.Command.Run) == "" {
			return errors.New("command needs run")
		}
		if c.Command.Timeout < 0 {
			return errors.New("command timeout must not be negative")
		}
		if c.Command.ExitCode < 0 || c.Command.ExitCode > 255 {
			// A process's exit status is one byte: the check could never pass.
			return fmt.Errorf("command exit_code %d is no exit status (0 to 255)", c.Command.ExitCode)
		}
		// Checks run after the attempt; one the task cannot afford would
		// hold the run long past what its author allowed.
		if c.Command.Timeout > t.Timeout {
			return fmt.Errorf("command timeout %s is longer than the task's timeout %s", c.Command.Timeout, t.Timeout)
		}
		if c.Command.OutputMatches != "" {
			if _, err := regexp.Compile(c.Command.OutputMatches); err != nil {
				return fmt.Errorf("output_matches: %v", err)
			}
		}
	}
	return nil
}

// Name is a short description of the check for results and reports.
func (c Check) Name() string {
	switch {
	case c.Label != "":
		return c.Label
	case c.AnswerContains != "":
		return fmt.Sprintf("answer contains %q", c.AnswerContains)
	case c.AnswerNotContains != "":
		return fmt.Sprintf("answer does not contain %q", c.AnswerNotContains)
	case c.AnswerMatches != "":
		return fmt.Sprintf("answer matches /%s/", c.AnswerMatches)
	case c.FileExists != "":
		return "file exists: " + c.FileExists
	case c.FileContains != nil:
		return fmt.Sprintf("%s contains %q", c.FileContains.Path, c.FileContains.Text)
	case c.FileUnchanged != "":
		return "unchanged: " + c.FileUnchanged
	case c.Command != nil:
		return "command: " + c.Command.Run
	}
	return "empty check"
}

// The longest path and file name Linux allows (PATH_MAX, NAME_MAX).
const (
	maxPath = 4095
	maxName = 255
)

func checkRelPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("path %q holds a NUL byte", p)
	case len(p) > maxPath:
		return fmt.Errorf("path of %d bytes is longer than the system allows (%d)", len(p), maxPath)
	case slices.ContainsFunc(strings.Split(p, "/"), func(n string) bool { return len(n) > maxName }):
		return fmt.Errorf("path %.40q...: a name in it is longer than the system allows (%d bytes)", p, maxName)
	case path.IsAbs(p), !fs.ValidPath(path.Clean(p)), path.Clean(p) == ".":
		return fmt.Errorf("path %q must be relative and stay inside the workspace", p)
	}
	return nil
}

// lineOf returns the line of a top-level key, or of the mapping itself.
func lineOf(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i].Line
		}
	}
	return m.Line
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlError turns the YAML library's "line N: ..." messages into "file:N: ...".
func yamlError(file string, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	// A file that is no task file (a copy of /etc/shadow) would give one
	// error per line, each quoting it.
	const shown = 3
	more := len(msgs) - shown
	if more > 0 {
		msgs = msgs[:shown]
	}
	for i, m := range msgs {
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			msgs[i] = file + ":" + sm[1] + ": " + m[len(sm[0]):]
		} else {
			msgs[i] = file + ": " + strings.TrimPrefix(m, "yaml: ")
		}
	}
	if more > 0 {
		msgs = append(msgs, fmt.Sprintf("and %d more", more))
	}
	return errors.New(strings.Join(msgs, "; "))
}
