// Package realserver starts llama.cpp's llama-server with a tiny deterministic
// model, through the kit in ../shared/realserver, so tests can prove the
// client against an OpenAI-compatible server nobody in this project wrote.
package realserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvKit names the environment variable that points at the kit's folder.
const EnvKit = "GOATBENCH_REALSERVER"

// ErrNoKit means neither $GOATBENCH_REALSERVER nor ../shared/realserver exists.
var ErrNoKit = errors.New("no llama-server kit: set " + EnvKit + " to the realserver folder, or put it at ../shared/realserver beside the repository")

// Kit is the folder holding setup.sh and start.sh.
type Kit struct{ Dir string }

// Find locates the kit: $GOATBENCH_REALSERVER, else ../shared/realserver next
// to the repository that contains the working directory.
func Find() (Kit, error) {
	if d := os.Getenv(EnvKit); d != "" {
		if _, err := os.Stat(filepath.Join(d, "start.sh")); err != nil {
			return Kit{}, fmt.Errorf("%s=%s: %w", EnvKit, d, err)
		}
		return Kit{Dir: d}, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return Kit{}, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			kit := filepath.Join(filepath.Dir(dir), "shared", "realserver")
			if _, err := os.Stat(filepath.Join(kit, "start.sh")); err == nil {
				return Kit{Dir: kit}, nil
			}
			return Kit{}, ErrNoKit
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return Kit{}, ErrNoKit
		}
		dir = parent
	}
}

// Server is one running llama-server.
type Server struct {
	URL string // base URL ending in /v1
	PID int
	Log string
}

// Options shape a server: its context size, parallel slots, and extra
// llama-server arguments.
type Options struct {
	Context int      // total context (-c); 0 keeps the kit's default
	Slots   int      // parallel slots (-np); 0 keeps the kit's default
	NoJinja bool     // start with --no-jinja: no tool-call support (jinja is on by default in this build)
	Args    []string // more llama-server arguments
}

// Start installs the kit if needed (idempotent) and starts a server on a free
// loopback port, returning once /health answers.
func (k Kit) Start(ctx context.Context, o Options) (*Server, error) {
	setup := exec.CommandContext(ctx, "sh", filepath.Join(k.Dir, "setup.sh"))
	var stderr bytes.Buffer
	setup.Stderr = &stderr
	out, err := setup.Output()
	if err != nil {
		return nil, fmt.Errorf("realserver setup: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	root := strings.TrimSpace(string(out))
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-m", filepath.Join(root, "tiny.gguf"), "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"-c", strconv.Itoa(or(o.Context, 65536)), "-np", strconv.Itoa(or(o.Slots, 4)), "-t", "2", "--alias", "tiny-random", "--no-webui"}
	if o.NoJinja {
		args = append(args, "--no-jinja")
	} else {
		args = append(args, "--jinja")
	}
	args = append(args, o.Args...)
	logPath := filepath.Join(root, fmt.Sprintf("server-%d.log", port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(k.Dir, "llama-server.sh"), args...)
	cmd.Env = append(os.Environ(), "ROOT="+root)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start llama-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d/v1", port), PID: cmd.Process.Pid, Log: logPath}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if healthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", port)) {
			return s, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("llama-server exited during start; log: %s", logPath)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("llama-server not healthy after 30s; log: %s", logPath)
		}
	}
}

// Stop kills the server's process group.
func (s *Server) Stop() {
	if s != nil && s.PID > 0 {
		_ = syscall.Kill(-s.PID, syscall.SIGKILL)
	}
}

func healthy(ctx context.Context, url string) bool {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
