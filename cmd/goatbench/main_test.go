package main

import (
	"os"
	"testing"

	"github.com/goatbench/goatbench/internal/deploy/fakemodal"
)

func TestMain(m *testing.M) {
	// The fake `modal` command line that deploy tests put on PATH re-executes
	// this test binary: serve it and exit.
	fakemodal.MainIfCLI()
	agentMainIfCalled()
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
