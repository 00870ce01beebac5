package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/sashabaranov/go-openai"

	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/sandbox"
)

// Limits on what a tool hands back to the model.
const (
	toolOutputCap  = 16 << 10
	bashTimeout    = 60 * time.Second
	writeFileLimit = 1 << 20
)

// toolBash is the one tool that runs commands in the workspace's sandbox.
const toolBash = "bash"

// toolDefs are the four tools every attempt offers.
var toolDefs = []openai.Tool{
	tool(toolBash, "Run a bash command in the workspace directory and return its exit code and output.",
		`{"type":"object","properties":{"command":{"type":"string","description":"the bash command to run"}},"required":["command"]}`),
	tool("read_file", "Read a text file in the workspace.",
		`{"type":"object","properties":{"path":{"type":"string","description":"path relative to the workspace"}},"required":["path"]}`),
	tool("write_file", "Write (create or replace) a text file in the workspace.",
		`{"type":"object","properties":{"path":{"type":"string","description":"path relative to the workspace"},"content":{"type":"string","description":"the whole new content"}},"required":["path","content"]}`),
	tool("list_dir", "List the entries of a directory in the workspace; directories end with '/'.",
		`{"type":"object","properties":{"path":{"type":"string","description":"directory relative to the workspace; '.' for the workspace itself"}},"required":["path"]}`),
}

func tool(name, desc, schema string) openai.Tool {
	return openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
		Name: name, Description: desc, Parameters: json.RawMessage(schema),
	}}
}

// errBadCall marks a tool call the model got wrong (unknown tool, arguments
// that are not the expected JSON): it goes back to the model as a tool error.
var errBadCall = errors.New("bad tool call")

// callTool runs one tool call in the workspace and returns the text for the
// tool message. A non-nil error wrapping errBadCall means the call itself was
// malformed; the text then explains why, for the model to correct itself.
// Secret values are redacted from the text, so neither the model nor any
// transcript ever holds one, whatever a command printed.
func callTool(ctx context.Context, w sandbox.Workspace, name, rawArgs string) (string, error) {
	out, err := runTool(ctx, w, name, rawArgs)
	return redact.String(out), err
}

func runTool(ctx context.Context, w sandbox.Workspace, name, rawArgs string) (string, error) {
	var args struct {
		Command *string `json:"command"`
		Path    *string `json:"path"`
		Content *string `json:"content"`
	}
	if strings.TrimSpace(rawArgs) == "" {
		rawArgs = "{}"
	}
	if err := json.Unmarshal([]byte(rawArgs), &args); err != nil {
		return badCall("arguments are not a JSON object: %v", err)
	}
	switch name {
	case toolBash:
		if args.Command == nil {
			return badCall(`bash needs {"command": "..."}`)
		}
		res, err := w.Run(ctx, *args.Command, bashTimeout)
		if err != nil {
			return "", err
		}
		// Cut the output first so the markers after it always reach the model.
		var b strings.Builder
		b.WriteString(truncate(res.Output, toolOutputCap))
		if res.Dropped > 0 {
			fmt.Fprintf(&b, "\n[... %d more bytes of output dropped ...]", res.Dropped)
		}
		if res.TimedOut {
			fmt.Fprintf(&b, "\n[command killed after %s]", bashTimeout)
		}
		fmt.Fprintf(&b, "\n[exit code %d]", res.ExitCode)
		return b.String(), nil
	case "read_file":
		if args.Path == nil {
			return badCall(`read_file needs {"path": "..."}`)
		}
		if strings.TrimSpace(*args.Path) == "" {
			return "error: path is empty", nil
		}
		b, more, err := w.ReadFile(*args.Path, toolOutputCap)
		if err != nil {
			return "error: " + fsError(err), nil
		}
		if more {
			return string(b) + "\n[... truncated: the file is longer ...]", nil
		}
		return string(b), nil
	case "write_file":
		if args.Path == nil || args.Content == nil {
			return badCall(`write_file needs {"path": "...", "content": "..."}`)
		}
		if strings.TrimSpace(*args.Path) == "" {
			return "error: path is empty", nil
		}
		if len(*args.Content) > writeFileLimit {
			return fmt.Sprintf("error: content is %d bytes; the limit is %d", len(*args.Content), writeFileLimit), nil
		}
		if err := w.WriteFile(*args.Path, []byte(*args.Content)); err != nil {
			return "error: " + fsError(err), nil
		}
		return fmt.Sprintf("wrote %d bytes to %s", len(*args.Content), *args.Path), nil
	case "list_dir":
		p := "."
		if args.Path != nil {
			p = *args.Path
		}
		names, err := w.ListDir(p)
		if err != nil {
			return "error: " + fsError(err), nil
		}
		return truncate(strings.Join(names, "\n"), toolOutputCap), nil
	}
	return badCall("unknown tool %q; the tools are bash, read_file, write_file, list_dir", name)
}

func badCall(format string, a ...any) (string, error) {
	msg := "error: " + fmt.Sprintf(format, a...)
	return msg, fmt.Errorf("%w: %s", errBadCall, msg)
}

// fsError says why a file operation failed without leaking host paths.
func fsError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// truncate cuts s to at most n bytes with a visible marker.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("\n[... truncated %d bytes ...]", len(s)-n)
}
