package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// errInterrupted is why a run stopped on Ctrl-C or SIGTERM.
var errInterrupted = errors.New("interrupted")

// interruptible returns a context cancelled, with errInterrupted as its cause,
// by the first SIGINT or SIGTERM; a second one calls exit(130) at once. The
// returned function stops listening.
func interruptible(parent context.Context, errOut io.Writer, exit func(int)) (context.Context, func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stop := watchSignals(parent, sigs, errOut, exit)
	return ctx, func() {
		signal.Stop(sigs)
		stop()
	}
}

func watchSignals(parent context.Context, sigs <-chan os.Signal, errOut io.Writer, exit func(int)) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(errOut, "goatbench: interrupted: cancelling attempts in flight and keeping every finished one (Ctrl-C again quits at once)")
		cancel(errInterrupted)
		select {
		case <-sigs:
			fmt.Fprintln(errOut, "goatbench: interrupted twice: quitting now")
			exit(exitCancel)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			cancel(nil)
		})
	}
}

// lockedWriter lets the signal watcher and the attempts' progress lines share stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Unwrap lets the colour and terminal checks see stderr underneath.
func (l *lockedWriter) Unwrap() io.Writer { return l.w }

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
