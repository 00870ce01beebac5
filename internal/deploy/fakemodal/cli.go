package fakemodal

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// stateEnv names the variable through which the `modal` wrapper script tells
// the re-executed test binary to act as the fake command line. The wrapper
// sets it itself, so it survives callers that scrub the environment.
const stateEnv = "FAKEMODAL_STATE"

// Invocation is one run of the fake command line, as recorded by it.
type Invocation struct {
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"` // the environment the caller passed (stateEnv excluded)
	Dir  string            `json:"dir"` // working directory
}

// InstallCLI writes an executable named `modal` into binDir that runs the
// current test binary as the fake command line against this control plane.
// The test binary's TestMain must call MainIfCLI first.
func (c *ControlPlane) InstallCLI(binDir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate test binary: %w", err)
	}
	script := fmt.Sprintf("#!/bin/sh\n%s=%s exec %s \"$@\"\n", stateEnv, shellQuote(c.dir), shellQuote(self))
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(binDir, "modal"), []byte(script), 0o755)
}

// Invocations returns every run of the fake command line, oldest first.
func (c *ControlPlane) Invocations() ([]Invocation, error) {
	entries, err := os.ReadDir(filepath.Join(c.dir, "calls"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out := make([]Invocation, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(c.dir, "calls", n))
		if err != nil {
			return nil, err
		}
		var inv Invocation
		if err := json.Unmarshal(b, &inv); err != nil {
			return nil, fmt.Errorf("call record %s: %w", n, err)
		}
		out = append(out, inv)
	}
	return out, nil
}

// MainIfCLI turns the process into the fake command line, and exits, when it
// was started by the wrapper InstallCLI wrote. Call it first thing in TestMain.
func MainIfCLI() {
	dir := os.Getenv(stateEnv)
	if dir == "" {
		return
	}
	os.Exit(runCLI(dir, os.Args[1:], os.Stdout, os.Stderr))
}

// runCLI mimics the commands goatbench uses, with the output and exit codes
// of modal-labs/modal-client's py/modal/cli:
//
//	modal deploy <script> --env <env>          (spec in GOATBENCH_MODEL_SPEC)
//	modal app stop <app> [--yes] --env <env>   (cli/app.py stop)
//	modal container list --app-id <id> --env <env> --json   (cli/container.py list_)
//	modal container stop <id> [--yes]          (cli/container.py stop; no --env)
func runCLI(dir string, args []string, stdout, stderr io.Writer) int {
	if err := record(dir, args); err != nil {
		fmt.Fprintf(stderr, "fake modal: %v\n", err)
		return 2
	}
	if os.Getenv("MODAL_TOKEN_ID") == "" || os.Getenv("MODAL_TOKEN_SECRET") == "" {
		if _, err := os.Stat(filepath.Join(os.Getenv("HOME"), ".modal.toml")); err != nil {
			fmt.Fprintln(stderr, "Error: Token missing. Could not authenticate client.")
			return 1
		}
	}
	env, rest := flagValue(args, "--env")
	appFilter, rest := flagValue(rest, "--app-id")
	yes := slices.Contains(args, "--yes") || slices.Contains(args, "-y")
	asJSON := slices.Contains(rest, "--json")
	rest = slices.DeleteFunc(rest, func(a string) bool { return a == "--json" })
	if env == "" && !(len(rest) >= 2 && rest[0] == "container" && rest[1] == "stop") {
		fmt.Fprintln(stderr, "Error: no environment given")
		return 2
	}
	switch {
	case len(rest) == 2 && rest[0] == "deploy":
		return deploy(dir, env, rest[1], stdout, stderr)
	case len(rest) == 3 && rest[0] == "app" && rest[1] == "stop":
		return stopApp(dir, env, rest[2], yes, stdout, stderr)
	case len(rest) == 2 && rest[0] == "container" && rest[1] == "list" && asJSON:
		return listContainers(dir, env, appFilter, stdout)
	case len(rest) == 3 && rest[0] == "container" && rest[1] == "stop":
		return stopContainer(dir, rest[2], yes, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "Usage: modal [deploy|app stop|container list --json|container stop] ... (got %q)\n", args)
		return 2
	}
}

func deploy(dir, env, script string, stdout, stderr io.Writer) int {
	if _, err := os.Stat(script); err != nil {
		fmt.Fprintf(stderr, "Error: deploy script %s: %v\n", script, err)
		return 1
	}
	var spec struct {
		Key     string `json:"key"`
		AppName string `json:"app_name"`
	}
	if err := json.Unmarshal([]byte(os.Getenv("GOATBENCH_MODEL_SPEC")), &spec); err != nil || spec.AppName == "" {
		fmt.Fprintf(stderr, "Error: GOATBENCH_MODEL_SPEC is not a model spec with an app_name (%v)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "✓ Initialized. View run at https://modal.com/apps/fake/%s\n", env)
	fmt.Fprintf(stdout, "Building image for %s\n", spec.Key)
	if msg, err := os.ReadFile(filepath.Join(dir, "failures", spec.AppName)); err == nil {
		fmt.Fprintln(stderr, string(msg))
		return 1
	}
	webURL, err := os.ReadFile(filepath.Join(dir, "plans", spec.AppName))
	if err != nil {
		// No planned URL: Modal's own, from the environment's web suffix.
		e, err := loadEnv(dir, env)
		if err != nil {
			fmt.Fprintf(stderr, "Error: Environment '%s' not found\n", env)
			return 1
		}
		webURL = []byte(generatedURL(e, spec.AppName))
	}
	if err := writeFile(filepath.Join(dir, "apps", env, spec.AppName), string(webURL)); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// The app scripts register a spec_<hash> marker function beside serve
	// (modal/vllm_spec.py marker_function_name); a deploy replaces the app's
	// functions with the ones this deploy defines.
	fns := []string{FunctionName}
	if h := os.Getenv("GOATBENCH_SPEC_HASH"); h != "" {
		fns = append(fns, "spec_"+h)
	}
	if err := saveMeta(dir, env, spec.AppName, appMeta{AppID: appID(env, spec.AppName), Functions: fns}); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "✓ App deployed! 🎉\n└── 🔨 Created web function serve => %s\n", webURL)
	return 0
}

func generatedURL(e environment, app string) string {
	return webURL(Workspace, e.WebSuffix, app, FunctionName)
}

// notTTY is what confirm_or_suggest_yes (py/modal/cli/utils.py) prints and
// exits with when a confirmation is needed and stdin is not a terminal.
func notTTY(msg string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "%s [y/N]: \n", msg)
	fmt.Fprintln(stderr, "Aborted: no interactive terminal detected. Rerun with --yes (-y) to skip confirmation.")
	return 1
}

// stopApp follows py/modal/cli/app.py stop: it stops the app for good (its
// deployment too) and ends its containers.
func stopApp(dir, env, app string, yes bool, stdout, stderr io.Writer) int {
	if _, err := os.Stat(filepath.Join(dir, "apps", env, app)); err != nil {
		// resolve_app_identifier's NotFoundError.
		fmt.Fprintf(stderr, "Error: No App with name '%s' found in the '%s' environment.\n", app, env)
		return 1
	}
	if !yes {
		return notTTY(fmt.Sprintf("Are you sure you want to stop App '%s' in the '%s' environment?", app, env), stdout, stderr)
	}
	for _, id := range runningContainers(dir, appID(env, app)) {
		_ = stopTask(dir, appID(env, app), id)
	}
	if err := os.Remove(filepath.Join(dir, "apps", env, app)); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// listContainers prints what `modal container list --json` prints:
// display_table's JSON, one object per container with the snake_case keys of
// its columns "Container ID", "App ID", "App Name", "Start Time".
func listContainers(dir, env, appFilter string, stdout io.Writer) int {
	type row struct {
		ContainerID string `json:"container_id"`
		AppID       string `json:"app_id"`
		AppName     string `json:"app_name"`
		StartTime   string `json:"start_time"`
	}
	rows := []row{}
	apps, _ := os.ReadDir(filepath.Join(dir, "containers"))
	for _, a := range apps {
		if appFilter != "" && a.Name() != appFilter {
			continue
		}
		for _, id := range runningContainers(dir, a.Name()) {
			owner, _ := os.ReadFile(filepath.Join(dir, "containers", a.Name(), id))
			e, name, _ := strings.Cut(string(owner), "/")
			if e != env {
				continue
			}
			rows = append(rows, row{ContainerID: id, AppID: a.Name(), AppName: name, StartTime: time.Now().UTC().Format(time.RFC3339)})
		}
	}
	b, _ := json.MarshalIndent(rows, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return 0
}

// stopContainer follows py/modal/cli/container.py stop.
func stopContainer(dir, id string, yes bool, stdout, stderr io.Writer) int {
	if _, err := os.Stat(filepath.Join(dir, "stopped", id)); err == nil {
		fmt.Fprintf(stderr, "Container '%s' is already stopped.\n", id)
		return 1
	}
	owner := ""
	apps, _ := os.ReadDir(filepath.Join(dir, "containers"))
	for _, a := range apps {
		if _, err := os.Stat(filepath.Join(dir, "containers", a.Name(), id)); err == nil {
			owner = a.Name()
		}
	}
	if owner == "" {
		fmt.Fprintf(stderr, "Error: Task '%s' not found\n", id)
		return 1
	}
	if !yes {
		return notTTY(fmt.Sprintf("Are you sure you want to stop container '%s'?", id), stdout, stderr)
	}
	if err := stopTask(dir, owner, id); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func stopTask(dir, appID, id string) error {
	if err := writeFile(filepath.Join(dir, "stopped", id), appID); err != nil {
		return err
	}
	return os.Remove(filepath.Join(dir, "containers", appID, id))
}

// flagValue removes `name value` from args and returns the value.
func flagValue(args []string, name string) (string, []string) {
	var val string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == name && i+1 < len(args):
			val = args[i+1]
			i++
		case strings.HasPrefix(args[i], name+"="):
			val = strings.TrimPrefix(args[i], name+"=")
		case args[i] == "--yes" || args[i] == "-y" || args[i] == "--graceful":
		default:
			rest = append(rest, args[i])
		}
	}
	return val, rest
}

func record(dir string, args []string) error {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if k != stateEnv {
			env[k] = v
		}
	}
	wd, _ := os.Getwd()
	b, err := json.Marshal(Invocation{Args: args, Env: env, Dir: wd})
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%020d-%d.json", time.Now().UnixNano(), os.Getpid())
	return os.WriteFile(filepath.Join(dir, "calls", name), b, 0o644)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
