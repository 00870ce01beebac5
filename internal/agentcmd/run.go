package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/goatbench/goatbench/internal/agentproxy"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/sandbox"
	"github.com/sashabaranov/go-openai"
)

// Caps on what an agent hands back: the rest is counted and dropped, and the
// run goes on.
const (
	AnswerCap  = 1 << 20 // stdout, and the answer file
	StderrCap  = 1 << 20 // the agent's log
	insidePort = 4000    // the forwarder's port on the sandbox's own loopback
	// DefaultGrace is the time between SIGTERM and SIGKILL at the timeout.
	DefaultGrace = 5 * time.Second
)

// Attempt is one run of an agent.
type Attempt struct {
	Agent   *Agent
	Dir     string        // the attempt's workspace: the agent's working directory and HOME
	Prompt  string        // the task's prompt
	Timeout time.Duration // the task's; the agent's own timeout wins when set
	Sandbox sandbox.Sandbox
	// Proxy is the model side: the relay with the real key, the model name
	// and the target's request defaults.
	Proxy agentproxy.Config
	// Forwarder is the goatbench executable, which runs `agent-forward`
	// inside the sandbox; "" is this process's own executable.
	Forwarder string
	Grace     time.Duration // 0: DefaultGrace
	// Scratch is the parent of the attempt's private files (prompt, answer
	// file, proxy socket), outside the workspace; "" is the system temp dir.
	Scratch string
}

// Outcome is what the agent did. Whether that was the task is for the checks.
type Outcome struct {
	Answer        string
	ExitCode      int           // the agent's; 124 at the timeout
	TimedOut      bool          // stopped at its timeout
	Timeout       time.Duration // the timeout it ran under (the agent's own, or the task's)
	Stderr        string
	StdoutDropped int64 // stdout bytes past AnswerCap
	Duration      time.Duration
	Requests      []results.Request              // one per model request, as the built-in loop records
	Messages      []openai.ChatCompletionMessage // the conversation as the proxy saw it
	// CutOff: the agent's last model request had a reply cut at the token
	// limit (finish_reason "length").
	CutOff bool
}

// Run runs the agent once in a.Dir. Under bubblewrap (sandbox.ModeBwrap) the
// agent reaches only its proxy, through ForwardMain; in plain mode it gets the
// proxy's loopback URL and is as unisolated as plain tool commands are (it
// still never holds the real key, and the proxy answers only its dummy key).
// The error means goatbench or the sandbox
// failed (an infrastructure error); whatever the agent did, including a
// crash or a non-zero exit, is in the Outcome.
func Run(ctx context.Context, a Attempt) (Outcome, error) {
	if a.Agent == nil || a.Sandbox == nil {
		return Outcome{}, errors.New("agent: an agent and a sandbox are required")
	}
	timeout := a.Timeout
	if a.Agent.Timeout > 0 {
		timeout = a.Agent.Timeout
	}
	if timeout <= 0 {
		return Outcome{}, errors.New("agent: no timeout")
	}
	grace := a.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	fwd := a.Forwarder
	if fwd == "" {
		exe, err := os.Executable()
		if err != nil {
			return Outcome{}, fmt.Errorf("agent: find goatbench's executable: %w", err)
		}
		fwd = exe
	}

	// Private files, outside the workspace so the checks never see them: a
	// directory only goatbench can enter, of which the sandbox shows only
	// these three paths.
	scratch, err := os.MkdirTemp(a.Scratch, "goatbench-agent-")
	if err != nil {
		return Outcome{}, fmt.Errorf("agent: %w", err)
	}
	defer os.RemoveAll(scratch)
	promptFile := filepath.Join(scratch, "prompt.txt")
	answerFile := filepath.Join(scratch, "answer")
	socket := filepath.Join(scratch, "proxy.sock")
	if err := writeFileMode(promptFile, a.Prompt, 0o444); err != nil {
		return Outcome{}, err
	}
	// Writable by the sandbox's uid, whichever it is.
	if err := writeFileMode(answerFile, "", 0o666); err != nil {
		return Outcome{}, err
	}

	isolated := a.Sandbox.Mode() == sandbox.ModeBwrap
	if !isolated {
		// Unisolated commands run by root run as a uid of their own
		// (sandbox.Plain), which must pass through to the two files it is
		// given; 0711 lets it open them by name without listing the folder.
		if err := os.Chmod(scratch, 0o711); err != nil {
			return Outcome{}, fmt.Errorf("agent: %w", err)
		}
	}
	proxy, err := agentproxy.New(a.Proxy)
	if err != nil {
		return Outcome{}, err
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	sock := ""
	if isolated {
		sock = socket
	}
	baseURL, err := proxy.Start(pctx, sock)
	if err != nil {
		return Outcome{}, err
	}
	defer proxy.Close()

	// Under bubblewrap the forwarder, inside, serves the proxy on loopback
	// and stops the agent (SIGTERM, then SIGKILL after the grace): bwrap
	// passes no signal on. Unisolated, the agent reaches the proxy's own
	// loopback port and the sandbox kills its process group at the timeout;
	// no forwarder runs, so goatbench's executable need not be reachable by
	// the uid that unisolated commands run as under root.
	words := []string{"bash", "-c", a.Agent.command()}
	backstop := timeout
	if isolated {
		addr := "127.0.0.1:" + strconv.Itoa(insidePort)
		words = append([]string{fwd, ForwardCommand, "--timeout", timeout.String(), "--grace", grace.String(),
			"--socket", socket, "--listen", addr, "--"}, words...)
		baseURL = "http://" + addr + "/v1"
		// The forwarder stops the agent at its timeout; this is the
		// backstop should the forwarder itself be stopped or stuck.
		backstop = timeout + grace + 10*time.Second
	}
	var script strings.Builder
	script.WriteString("exec")
	for _, w := range words {
		script.WriteString(" " + ShellQuote(w))
	}
	script.WriteString(" <" + ShellQuote(promptFile))

	env := []string{
		"OPENAI_BASE_URL=" + baseURL,
		"OPENAI_API_BASE=" + baseURL,
		"LITELLM_BASE_URL=" + strings.TrimSuffix(baseURL, "/v1"),
		"OPENAI_API_KEY=" + proxy.Key(),
		"LITELLM_API_KEY=" + proxy.Key(),
		"OPENAI_MODEL=" + a.Proxy.Model,
	}
	values, err := a.Agent.placeholderEnv(a.Prompt, promptFile, answerFile)
	if err != nil {
		return Outcome{}, fmt.Errorf("agent %q: %w", a.Agent.Name, err)
	}
	env = append(env, values...)
	for _, k := range sortedKeys(a.Agent.Env) {
		env = append(env, k+"="+a.Agent.Env[k])
	}
	binds := []sandbox.Bind{{Path: a.Agent.Exec}, {Path: promptFile}, {Path: answerFile, Writable: true}}
	if isolated {
		binds = append(binds, sandbox.Bind{Path: fwd}, sandbox.Bind{Path: socket, Writable: true})
	}
	for _, m := range a.Agent.Mounts {
		binds = append(binds, sandbox.Bind{Path: m})
	}

	res, err := a.Sandbox.Run(ctx, sandbox.Command{
		Dir:       a.Dir,
		Script:    script.String(),
		Timeout:   backstop,
		OutputCap: StderrCap,
		Env:       env,
		Binds:     binds,
		Stdout:    true,
		StdoutCap: AnswerCap,
	})
	_ = proxy.Close() // every request recorded before they are read
	out := Outcome{
		ExitCode: res.ExitCode, Stderr: res.Output, StdoutDropped: res.StdoutDropped, Duration: res.Duration,
		Timeout: timeout, Requests: proxy.Requests(), Messages: proxy.Messages(), CutOff: proxy.CutOff(),
	}
	out.TimedOut = res.TimedOut || res.ExitCode == 124 && res.Duration >= timeout
	if err != nil {
		return out, fmt.Errorf("agent %q: %w", a.Agent.Name, err)
	}
	fileAnswer, err := readCapped(answerFile, AnswerCap)
	if err != nil {
		return out, fmt.Errorf("agent %q: read the answer file: %w", a.Agent.Name, err)
	}
	switch {
	case a.Agent.Answer == AnswerFile:
		out.Answer = fileAnswer
	case a.Agent.Answer == AnswerAuto && strings.TrimSpace(fileAnswer) != "":
		out.Answer = fileAnswer
	default:
		out.Answer = res.Stdout
	}
	out.Answer = strings.TrimSpace(out.Answer)
	return out, nil
}

func writeFileMode(path, content string, mode os.FileMode) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// Chmod, not WriteFile's mode: the umask would take the bits the
	// sandbox's uid needs.
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// readCapped reads at most limit bytes of a regular file; the agent may have
// replaced the answer file with anything, a FIFO included.
func readCapped(path string, limit int64) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		// Removed, or replaced by a symlink (ELOOP) or by a file goatbench
		// may not read: the agent's doing, so no answer file was written.
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ELOOP) || errors.Is(err, os.ErrPermission) {
			return "", nil
		}
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(f, limit))
	return string(b), err
}

// Totals are the attempt-level figures of an outcome, as the built-in loop
// fills them in results.Attempt: turns are the model's replies, tool calls
// those the replies asked for (the agent ran them itself, unseen).
type Totals struct {
	Turns, ToolCalls, TokensIn, TokensOut, Retries int
	CostUSD                                        float64
}

// Totals sums the outcome's requests and replies.
func (o Outcome) Totals() Totals {
	var t Totals
	for _, r := range o.Requests {
		t.TokensIn += r.TokensIn
		t.TokensOut += r.TokensOut
		t.Retries += r.Retries
		t.CostUSD += r.CostUSD
	}
	for _, m := range o.Messages {
		if m.Role == openai.ChatMessageRoleAssistant {
			t.Turns++
			t.ToolCalls += len(m.ToolCalls)
		}
	}
	return t
}
