package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrNoCLI means the modal command line is not installed.
var ErrNoCLI = errors.New("modal CLI not found")

// CheckCLI reports whether the modal command (e.g. {"modal"} or {"uvx",
// "modal"}) can be started, and if not, how to install it.
func CheckCLI(command []string) error {
	if len(command) == 0 {
		command = []string{"modal"}
	}
	if _, err := exec.LookPath(command[0]); err != nil {
		return fmt.Errorf("%w: %q is not on PATH; install it with `pip install modal` (then `modal token new`), or run it through uv by using `uvx modal` as the modal command",
			ErrNoCLI, command[0])
	}
	return nil
}

// CLIError is a modal command that ran and failed.
type CLIError struct {
	Command string // e.g. "modal deploy modal/vllm.py --env goat"
	Log     string // the file holding its whole output
	Tail    []string
	Err     error // the exit status
}

func (e *CLIError) Error() string {
	msg := fmt.Sprintf("`%s` failed (%v); see %s", e.Command, e.Err, e.Log)
	if len(e.Tail) > 0 {
		msg += ", which ends: " + strings.Join(e.Tail, " | ")
	}
	return msg
}

func (e *CLIError) Unwrap() error { return e.Err }

// tailLines is how many of a failed command's last output lines its error quotes.
const tailLines = 5

// deploy runs `modal deploy <script> --env <env>` with the model spec in
// GOATBENCH_MODEL_SPEC and its hash in GOATBENCH_SPEC_HASH, which the app
// script records as its spec_<hash> marker function.
func (d *Deployer) deploy(ctx context.Context, t Target, hash string) error {
	if t.Script == "" {
		return errors.New("no deploy script given")
	}
	if _, err := os.Stat(filepath.Join(d.opts.RepoDir, t.Script)); err != nil {
		return fmt.Errorf("deploy script: %w (run goatbench from the repository root)", err)
	}
	if !json.Valid(t.SpecJSON) {
		return errors.New("the model spec handed to the deploy script is not valid JSON")
	}
	return d.runCLI(ctx, "deploy-"+t.Key,
		[]string{"deploy", t.Script, "--env", d.opts.Environment},
		[]string{"GOATBENCH_MODEL_SPEC=" + string(t.SpecJSON), "GOATBENCH_SPEC_HASH=" + hash})
}

// StopContainers ends the GPU bill of a deployed app and keeps its
// deployment: it lists the app's running containers and stops each one.
// `modal app stop` is not used: it "permanently stop[s] an App and
// terminate[s] its running containers" (modal-labs/modal-client
// py/modal/cli/app.py stop), so the next run would find nothing deployed.
// The commands are py/modal/cli/container.py's `container list --app-id ID
// --env ENV --json` and `container stop ID --yes`; a container that ended
// on its own meanwhile ("Container '<id>' is already stopped.") is no error.
func (d *Deployer) StopContainers(ctx context.Context, appName, appID string) error {
	if appID == "" {
		app, err := d.Lookup(ctx, appName)
		if errors.Is(err, ErrNotDeployed) {
			return nil // nothing deployed, nothing running
		}
		if err != nil {
			return fmt.Errorf("stop %s: %w", appName, err)
		}
		appID = app.ID
	}
	var out strings.Builder
	err := d.runCLIOutput(ctx, "stop-"+appName, []string{"container", "list", "--app-id", appID, "--env", d.opts.Environment, "--json"}, &out)
	if err != nil {
		return fmt.Errorf("stop %s: %w", appName, err)
	}
	var rows []struct {
		ContainerID string `json:"container_id"`
		AppID       string `json:"app_id"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out.String())), &rows); err != nil {
		return fmt.Errorf("stop %s: `modal container list --json` printed no JSON list (%v); see %s", appName, err, d.logPath("stop-"+appName))
	}
	var errs []error
	for _, r := range rows {
		if r.AppID != appID {
			continue // a CLI without --app-id filtering must not stop other apps
		}
		err := d.runCLI(ctx, "stop-"+appName, []string{"container", "stop", r.ContainerID, "--yes"}, nil)
		var ce *CLIError
		if errors.As(err, &ce) && tailHas(ce.Tail, "is already stopped") {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s container %s: %w", appName, r.ContainerID, err))
		}
	}
	return errors.Join(errs...)
}

// jsonPart drops anything the CLI printed before its JSON (warnings).
func jsonPart(s string) string {
	if i := strings.Index(s, "["); i >= 0 {
		return s[i:]
	}
	return s
}

// StopStarted stops the containers of every app in eps that this run
// deployed or woke, keeping the apps deployed, and joins the failures. Pass
// a context that outlives a cancelled run, so that Ctrl-C still stops what
// was started.
func (d *Deployer) StopStarted(ctx context.Context, eps []Endpoint) error {
	var g errgroup.Group
	g.SetLimit(4) // each stop is a Python process; a few at a time is plenty
	errs := make([]error, len(eps))
	for i, ep := range eps {
		if !ep.Started() {
			continue
		}
		g.Go(func() error {
			errs[i] = d.StopContainers(ctx, ep.AppName, ep.AppID)
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// runCLI runs the modal command with args, appending its output to
// <LogDir>/<logName>.log. The process gets only the environment cliEnv allows
// plus extraEnv, runs in its own process group, and the whole group is
// killed when ctx ends.
func (d *Deployer) runCLI(ctx context.Context, logName string, args, extraEnv []string) error {
	return d.run(ctx, logName, args, extraEnv, nil)
}

// runCLIOutput is runCLI with the command's stdout also written to stdout.
func (d *Deployer) runCLIOutput(ctx context.Context, logName string, args []string, stdout io.Writer) error {
	return d.run(ctx, logName, args, nil, stdout)
}

func (d *Deployer) run(ctx context.Context, logName string, args, extraEnv []string, stdout io.Writer) error {
	if err := CheckCLI(d.opts.ModalCommand); err != nil {
		return err
	}
	argv := append(append([]string(nil), d.opts.ModalCommand[1:]...), args...)
	display := strings.Join(append([]string{filepath.Base(d.opts.ModalCommand[0])}, argv...), " ")
	logPath := d.logPath(logName)
	if err := os.MkdirAll(d.opts.LogDir, 0o755); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	// The log folder is the run folder, which may come from elsewhere: no
	// symlink there leads the log out of it, and only a regular file is one.
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err == nil {
		if st, serr := f.Stat(); serr != nil || !st.Mode().IsRegular() {
			f.Close()
			err = fmt.Errorf("%s: not a regular file", logPath)
		}
	}
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s $ %s\n", time.Now().UTC().Format(time.RFC3339), display)

	cmd := exec.CommandContext(ctx, d.opts.ModalCommand[0], argv...)
	cmd.Dir = d.opts.RepoDir
	cmd.Env = append(cliEnv(os.Environ()), extraEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	if stdout != nil {
		cmd.Stdout = io.MultiWriter(f, stdout)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // output pipes held by orphans must not hang us
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("`%s` interrupted (log: %s): %w", display, logPath, ctx.Err())
	}
	if runErr != nil {
		var exitErr *exec.ExitError
		if !errors.As(runErr, &exitErr) {
			return fmt.Errorf("start `%s`: %w", display, runErr)
		}
		fmt.Fprintf(f, "=== exit: %v\n", runErr)
		return &CLIError{Command: display, Log: logPath, Tail: tail(logPath, tailLines), Err: runErr}
	}
	return nil
}

func (d *Deployer) logPath(name string) string {
	name = strings.NewReplacer("/", "_", string(os.PathSeparator), "_").Replace(name)
	return filepath.Join(d.opts.LogDir, name+".log")
}

// cliPassEnv are the variables of goatbench's environment the modal command
// line may see: what a Python program needs to run and reach Modal. Every
// MODAL_* variable passes too (credentials, profile, server). API keys of
// other services (OpenAI, Anthropic, Hugging Face, ...) do not.
var cliPassEnv = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "TZ": true,
	"LANG": true, "LC_ALL": true, "LC_CTYPE": true, "TMPDIR": true, "TERM": true, "NO_COLOR": true,
	"XDG_CONFIG_HOME": true, "XDG_CACHE_HOME": true, "XDG_DATA_HOME": true, "VIRTUAL_ENV": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "REQUESTS_CA_BUNDLE": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true,
	// uv's own settings, for `uvx modal`.
	"UV_CACHE_DIR": true, "UV_TOOL_DIR": true, "UV_PYTHON": true, "UV_PYTHON_INSTALL_DIR": true,
	"UV_INDEX_URL": true, "UV_DEFAULT_INDEX": true, "UV_OFFLINE": true,
}

func cliEnv(environ []string) []string {
	env := []string{"PYTHONUNBUFFERED=1"} // so the log fills as the deploy goes
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		// The proxy auth token is for the web endpoints, not for the CLI.
		if k == ProxyTokenIDEnv || k == ProxyTokenSecretEnv {
			continue
		}
		if cliPassEnv[k] || strings.HasPrefix(k, "MODAL_") {
			env = append(env, kv)
		}
	}
	return env
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

// tail returns up to n last non-empty lines of a file, without terminal
// escapes; progress bars redraw with \r, so that splits lines too.
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	var lines []string
	for _, l := range strings.FieldsFunc(ansi.ReplaceAllString(string(b), ""), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "=== ") {
			lines = append(lines, l)
		}
	}
	return lines[max(0, len(lines)-n):]
}

func tailHas(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
