package fakemodal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// runCLI mimics the two commands goatbench uses:
//
//	modal deploy <script> --env <env>        (spec in GOATBENCH_MODEL_SPEC)
//	modal app stop <app> [--yes] --env <env>
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
	if env == "" {
		fmt.Fprintln(stderr, "Error: no environment given")
		return 2
	}
	switch {
	case len(rest) == 2 && rest[0] == "deploy":
		return deploy(dir, env, rest[1], stdout, stderr)
	case len(rest) >= 3 && rest[0] == "app" && rest[1] == "stop":
		return stop(dir, env, rest[2], stderr)
	default:
		fmt.Fprintf(stderr, "Usage: modal [deploy|app stop] ... (got %q)\n", args)
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
		fmt.Fprintf(stderr, "Error: no web URL planned for %s\n", spec.AppName)
		return 1
	}
	if err := writeFile(filepath.Join(dir, "apps", env, spec.AppName), string(webURL)); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "✓ App deployed! 🎉\n└── 🔨 Created web function serve => %s\n", webURL)
	return 0
}

func stop(dir, env, app string, stderr io.Writer) int {
	err := os.Remove(filepath.Join(dir, "apps", env, app))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "Error: Could not find a deployed app named '%s' in environment '%s'.\n", app, env)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
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
		case args[i] == "--yes" || args[i] == "-y":
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
