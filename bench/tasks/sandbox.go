package tasks

import (
	"fmt"
	"strings"
)

// Sandbox is what a task asks of a remote sandbox (--sandbox modal); a zero
// field takes the run's default (a slim Python image, 1 core, 1 GiB, no
// network). Local sandboxes ignore it.
type Sandbox struct {
	Image     string  `yaml:"image"`      // a registry image, e.g. node:22-slim
	CPU       float64 `yaml:"cpu"`        // physical cores requested
	MemoryMiB int     `yaml:"memory_mib"` // memory requested
	Network   bool    `yaml:"network"`    // true: the sandbox may reach the internet
}

func (s Sandbox) validate() error {
	switch {
	case s.CPU < 0 || s.CPU > 64:
		return fmt.Errorf("sandbox cpu must be between 0 and 64 cores, got %g", s.CPU)
	case s.MemoryMiB < 0 || s.MemoryMiB > 256<<10:
		return fmt.Errorf("sandbox memory_mib must be between 0 and %d, got %d", 256<<10, s.MemoryMiB)
	case s.Image != strings.TrimSpace(s.Image) || strings.ContainsAny(s.Image, " \t\n\"'"):
		return fmt.Errorf("sandbox image %q is not an image reference", s.Image)
	}
	return nil
}
