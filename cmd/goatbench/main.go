// Command goatbench benchmarks self-hosted and API language models on agentic
// tasks: it deploys and warms Modal-served models, runs a task suite through
// an OpenAI-compatible endpoint, verifies every task with real checks and
// writes pass-rate, latency and cost reports.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/goatbench/goatbench/internal/didyoumean"
	"github.com/goatbench/goatbench/internal/safetext"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, as DESIGN.md fixes them.
const (
	exitOK     = 0
	exitFailed = 1 // some attempts failed
	exitUsage  = 2 // usage or configuration error
	exitInfra  = 3 // infrastructure error that left results incomplete
	exitCancel = 130
)

// prSetDumpable is prctl's PR_SET_DUMPABLE.
const prSetDumpable = 4

// exitError carries the exit code a command's failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a mistake in flags, arguments or configuration: exit 2.
func usageError(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// infraError is a failure of something goatbench depends on: exit 3.
func infraError(err error) error { return &exitError{code: exitInfra, err: err} }

// streams are the command's input and outputs; tests replace them.
type streams struct {
	Out io.Writer // machine output: tables, JSON, markdown
	Err io.Writer // human text: progress, warnings, errors
	// color is the --color of the command (auto, always, never); "" is auto.
	color string
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "goatbench",
		Short: "Which of your models can still do real agentic work, how fast, and at what cost",
		Long: `goatbench runs a suite of verified agentic tasks against language models
(self-hosted on Modal through vLLM, or API models through LiteLLM) and
reports pass rate, latency and cost.`,
		Example: `  goatbench run --models reference --suite smoke
  goatbench run --models qwen3-4b,gpt-oss-20b --suite smoke
  goatbench validate --suite smoke`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%s%s (see '%s --help')", plainFlagError(err.Error()), flagSuggestion(c, err), c.CommandPath())
	})
	root.Version = buildVersion(version, debug.ReadBuildInfo)
	root.SetVersionTemplate("goatbench {{.Version}}\n")
	root.AddCommand(newRunCmd(s, nil))
	root.AddCommand(newValidateCmd(s))
	root.AddCommand(newSuitesCmd(s))
	root.AddCommand(newVersionCmd(s))
	root.AddCommand(newModelsCmd(s))
	root.AddCommand(newLitellmConfigCmd(s))
	root.AddCommand(newReportCmd(s))
	root.AddCommand(newMergeCmd(s))
	root.AddCommand(newCompareCmd(s))
	root.AddCommand(newHistoryCmd(s))
	root.AddCommand(newDeployCmd(s))
	root.AddCommand(newDoctorCmd(s))
	root.AddCommand(newAgentCmd(s), newAgentForwardCmd())
	return root
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print goatbench's version",
		Example: "  goatbench version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.Out, "goatbench %s\n", buildVersion(version, debug.ReadBuildInfo))
			return err
		},
	}
}

// buildVersion is goatbench's version: what -ldflags "-X main.version=..."
// set, else what the Go toolchain stamped into the binary: the module
// version (go install ...@v1.2.3), or, built from a clone, a pseudo-version
// from the commit, or failing that the commit itself. Builds with
// -buildvcs=false (CI sets it in GOFLAGS) carry no commit and stay "dev".
func buildVersion(set string, info func() (*debug.BuildInfo, bool)) string {
	if set != "dev" && set != "" {
		return set
	}
	bi, ok := info()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "dev-" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}

// strconvFlagError is pflag's message for a value strconv refused:
// invalid argument "abc" for "--parallel" flag: strconv.ParseInt: parsing "abc": invalid syntax.
var strconvFlagError = regexp.MustCompile(`^(invalid argument .* flag): strconv\.Parse(\w+): parsing .*: (invalid syntax|value out of range)$`)

// plainFlagError says what a flag's value must be rather than which Go
// function refused it.
func plainFlagError(msg string) string {
	m := strconvFlagError.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{"Int": "a whole number", "Uint": "a whole number, 0 or more", "Float": "a number", "Bool": "true or false"}[m[2]]
	switch {
	case m[3] == "value out of range":
		return m[1] + ": out of range"
	case want != "":
		return m[1] + ": must be " + want
	}
	return msg
}

// intFlag defines an int flag read in base 10 only. pflag's own reads its
// value as Go source would: --parallel 010 ran 8 attempts at once, 0x10 ran
// 16, and 09 was refused as "no whole number".
func intFlag(f *pflag.FlagSet, p *int, name string, value int, usage string) {
	*p = value
	f.Var((*decimalInt)(p), name, usage)
}

type decimalInt int

func (d *decimalInt) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, strconv.IntSize) // its errors read as plainFlagError expects
	if err != nil {
		return err
	}
	*d = decimalInt(v)
	return nil
}

func (d *decimalInt) String() string { return strconv.Itoa(int(*d)) }
func (d *decimalInt) Type() string   { return "int" }

// flagSuggestion is " (did you mean --models?)" for a misspelt flag, or "".
func flagSuggestion(c *cobra.Command, err error) string {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return ""
	}
	var names []string
	c.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	near := didyoumean.Closest(name, names, 2)
	if len(near) == 0 {
		return ""
	}
	return " (did you mean --" + strings.Join(near, " or --") + "?)"
}

// execute runs the command line and returns the process exit code.
func execute(args []string, s streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitFailed && ee.code != exitCancel {
			// An error can quote a task file, a server or a model name:
			// escaped, on one line (a newline in it would be \n).
			fmt.Fprintf(s.Err, "goatbench: %s\n", safetext.Line(ee.err.Error()))
		}
		return ee.code
	}
	// cobra's own argument errors (unknown command, wrong arg count) are usage errors.
	fmt.Fprintf(s.Err, "goatbench: %s\n", safetext.Line(oneLine(err.Error())))
	return exitUsage
}

// oneLine folds cobra's multi-line suggestions ("Did you mean this?\n\trun")
// into the single line every goatbench error is.
func oneLine(msg string) string {
	var parts, suggestions []string
	for _, l := range strings.Split(msg, "\n") {
		switch l = strings.TrimSpace(l); {
		case l == "":
		case l == "Did you mean this?":
			suggestions = []string{}
		case suggestions != nil:
			suggestions = append(suggestions, l)
		default:
			parts = append(parts, l)
		}
	}
	out := strings.Join(parts, "; ")
	if len(suggestions) > 0 {
		out += " (did you mean " + strings.Join(suggestions, " or ") + "?)"
	}
	return out
}

func main() {
	// Commands run unisolated (--sandbox plain) share goatbench's user; without
	// this they could read its environment, secrets included, from
	// /proc/<pid>/environ. Executed programs get their own dumpable flag back.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
	os.Exit(execute(os.Args[1:], streams{Out: os.Stdout, Err: os.Stderr}))
}
