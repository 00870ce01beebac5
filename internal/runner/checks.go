package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
)

const (
	checkTimeout   = 30 * time.Second
	checkFileLimit = 16 << 20 // bytes of a file a check reads
)

// Evaluate runs every check of a task against the workspace and the final
// answer. Each check is judged on its own; the attempt passes only if all pass.
// The error is goatbench's: a check command the sandbox could not run (for a
// reason other than what the model left in the workspace, which fails that
// check), so nothing can be said of the attempt; it comes with the checks
// judged until then.
func Evaluate(ctx context.Context, w sandbox.Workspace, t tasks.Task, answer string) ([]results.Check, error) {
	out := make([]results.Check, 0, len(t.Checks))
	for _, c := range t.Checks {
		pass, detail, err := evaluate(ctx, w, c, answer)
		out = append(out, results.Check{Name: c.Name(), Pass: pass, Detail: detail})
		if err != nil {
			return out, fmt.Errorf("check %s: could not run: %w", c.Name(), err)
		}
	}
	return out, nil
}

// failedAny reports whether any of the checks failed (none failed of none).
func failedAny(cs []results.Check) bool {
	return len(cs) > 0 && !AllPass(cs)
}

// AllPass reports whether there is at least one check and every check passed.
func AllPass(cs []results.Check) bool {
	for _, c := range cs {
		if !c.Pass {
			return false
		}
	}
	return len(cs) > 0
}

func evaluate(ctx context.Context, w sandbox.Workspace, c tasks.Check, answer string) (bool, string, error) {
	if c.Command != nil {
		return evaluateCommand(ctx, w, c.Command)
	}
	pass, detail := judgeCheck(w, c, answer)
	return pass, detail, nil
}

// judgeCheck judges a check that runs no command.
func judgeCheck(w sandbox.Workspace, c tasks.Check, answer string) (bool, string) {
	switch {
	case c.AnswerContains != "":
		if containsWord(answer, c.AnswerContains) {
			return true, ""
		}
		return false, fmt.Sprintf("the answer does not state %q", c.AnswerContains)
	case c.AnswerNotContains != "":
		if !containsWord(answer, c.AnswerNotContains) {
			return true, ""
		}
		return false, fmt.Sprintf("the answer names %q", c.AnswerNotContains)
	case c.AnswerMatches != "":
		if pattern(c.AnswerMatches).MatchString(answer) {
			return true, ""
		}
		return false, fmt.Sprintf("the answer does not match /%s/", c.AnswerMatches)
	case c.FileExists != "":
		if w.Exists(c.FileExists) {
			return true, ""
		}
		return false, c.FileExists + " does not exist"
	case c.FileContains != nil:
		b, _, err := w.ReadFile(c.FileContains.Path, checkFileLimit)
		if err != nil {
			return false, fsError(err)
		}
		if bytes.Contains(b, []byte(c.FileContains.Text)) {
			return true, ""
		}
		return false, fmt.Sprintf("%s does not contain %q", c.FileContains.Path, c.FileContains.Text)
	case c.FileUnchanged != "":
		want, _ := w.Seeded(c.FileUnchanged)
		got, _, err := w.ReadFile(c.FileUnchanged, len(want)+1)
		if err != nil {
			return false, fsError(err)
		}
		if bytes.Equal(got, want) {
			return true, ""
		}
		return false, c.FileUnchanged + " was modified"
	}
	return false, "empty check"
}

func evaluateCommand(ctx context.Context, w sandbox.Workspace, c *tasks.CommandCheck) (bool, string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = checkTimeout
	}
	res, err := w.Run(ctx, c.Run, timeout)
	if err != nil {
		if errors.Is(err, sandbox.ErrWorkspace) {
			return false, "could not run: " + err.Error(), nil // the model's doing
		}
		return false, "could not run: " + err.Error(), err
	}
	pass, detail := judgeOutput(res, c, timeout)
	return pass, detail, nil
}

// judgeOutput judges what a check command did.
func judgeOutput(res sandbox.Result, c *tasks.CommandCheck, timeout time.Duration) (bool, string) {
	switch {
	case res.TimedOut:
		return false, fmt.Sprintf("timed out after %s", timeout)
	case res.ExitCode != c.ExitCode:
		return false, fmt.Sprintf("exit code %d, want %d: %s", res.ExitCode, c.ExitCode, lastLine(res.Output))
	case c.OutputContains != "" && !strings.Contains(res.Output, c.OutputContains):
		return false, fmt.Sprintf("output does not contain %q: %s", c.OutputContains, lastLine(res.Output))
	case c.OutputMatches != "" && !pattern(c.OutputMatches).MatchString(res.Output):
		return false, fmt.Sprintf("output does not match /%s/: %q", c.OutputMatches, truncate(res.Output, 200))
	}
	return true, ""
}

// containsWord reports whether text contains word, case-insensitively, not
// glued to other letters or digits: "3910" does not contain "391".
func containsWord(text, word string) bool {
	return pattern(`(?i)(^|[^\pL\pN_])` + regexp.QuoteMeta(word) + `($|[^\pL\pN_])`).MatchString(text)
}

// patterns holds every check's regular expression once compiled: compiling
// one took more of goatbench's CPU per attempt than writing its transcript.
// Its keys come from the suite's checks, so it stays as small as the suite.
var patterns sync.Map

// pattern is expr compiled; the suite's loader has refused any expr that
// does not compile.
func pattern(expr string) *regexp.Regexp {
	if re, ok := patterns.Load(expr); ok {
		return re.(*regexp.Regexp)
	}
	re, _ := patterns.LoadOrStore(expr, regexp.MustCompile(expr))
	return re.(*regexp.Regexp)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return truncate(s, 200)
}
