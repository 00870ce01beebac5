package agentcmd

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// TestServerFailure: only the model's server failing makes a crashed agent's
// attempt an error; a request the agent got wrong is the agent's.
func TestServerFailure(t *testing.T) {
	cases := []struct {
		errs  []string // each request's error, in order
		class string   // "" when the checks decide
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"HTTP 503: no healthy deployments (gave up after 3 retries)"}, results.ClassServerError},
		{[]string{"Post \"http://x/v1/chat/completions\": dial tcp: connection refused"}, results.ClassServerError},
		{[]string{"HTTP 429: slow down (gave up after 3 retries)"}, results.ClassRateLimited},
		{[]string{`HTTP 400: the agent asked for model "gpt-5"; this attempt's model is "m"`}, ""},
		{[]string{"HTTP 422: bad tool schema, not HTTP 500"}, ""},
		{[]string{"the agent's request is not a JSON object"}, ""},
		{[]string{"HTTP 503: down", ""}, ""}, // it recovered; its last request answered
		{[]string{"the agent's connection closed before the reply was complete (context canceled)"}, ""},
		{[]string{"the model's server sent nothing for 31s, and the agent hung up (context canceled)"}, results.ClassServerError},
		{[]string{"oversized reply: one stream event is over the 1048576-byte limit"}, results.ClassOversizedReply},
	}
	for _, c := range cases {
		var reqs []results.Request
		for _, e := range c.errs {
			reqs = append(reqs, results.Request{Error: e})
		}
		st, class, reason, ok := serverFailure(reqs)
		require.Equal(t, c.class != "", ok, c.errs)
		require.Equal(t, c.class, class, c.errs)
		if ok && class == results.ClassOversizedReply {
			require.Equal(t, results.StatusFail, st, "the model's reply, not the server's failure")
		} else if ok {
			require.Equal(t, results.StatusError, st)
			require.Equal(t, c.errs[len(c.errs)-1], reason)
		}
	}
}

// Unisolated and not run by root, the agent runs as goatbench's own user and
// can replace the answer file with anything. Whatever it put there, it wrote
// no answer file: that is its result, never goatbench's error.
func TestAnAnswerFileTheAgentReplacedIsNoAnswer(t *testing.T) {
	for name, plant := range map[string]func(t *testing.T, path string){
		"symlink":   func(t *testing.T, path string) { require.NoError(t, os.Symlink("/etc/hostname", path)) },
		"directory": func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o755)) },
		"fifo":      func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o644)) },
		"removed":   func(t *testing.T, path string) {},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "answer")
			plant(t, path)
			got, err := readCapped(path, AnswerCap)
			require.NoError(t, err)
			require.Empty(t, got)
		})
	}
}

// A timed-out agent's reason names the timeout it ran under, which its end
// (after the grace) is not.
func TestTimedOutNamesTheTimeout(t *testing.T) {
	got := timedOut(Outcome{TimedOut: true, Timeout: 5 * time.Second, Duration: 10*time.Second + 200*time.Millisecond})
	require.Equal(t, "the agent was stopped at its 5s timeout; it ended after 10s", got)
}
