package progress

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
	"github.com/mattn/go-runewidth"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func attempt(model, task string, st results.Status, class string) results.Attempt {
	return results.Attempt{Model: model, Task: task, Status: st, FailureClass: class, WallSeconds: 12.3, Turns: 1, ToolCalls: 3}
}

func TestPlainLines(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var out bytes.Buffer
	r := New(&out, Options{Now: clk.Now, Interval: time.Hour}) // the ticker never fires here
	r.Plan("qwen3-4b-local", 4)
	r.Phase("qwen3-4b-local", LookingUp, 0)
	clk.Add(2 * time.Second)
	r.Phase("qwen3-4b-local", Deploying, 0)
	clk.Add(72 * time.Second)
	r.Phase("qwen3-4b-local", Warming, 0)
	clk.Add(133 * time.Second)
	r.Started("qwen3-4b-local")
	r.Started("qwen3-4b-local")
	clk.Add(10 * time.Second)
	r.Finished(attempt("qwen3-4b-local", "file-create", results.StatusPass, ""))
	clk.Add(59 * time.Minute) // not yet an interval since the first attempt line
	r.Finished(attempt("qwen3-4b-local", "grep", results.StatusFail, results.ClassChecksFailed))
	clk.Add(time.Hour)
	r.Started("qwen3-4b-local")
	r.Finished(attempt("qwen3-4b-local", "count\x1b[2J", results.StatusError, results.ClassServerError))
	r.Finished(attempt("qwen3-4b-local", "sum", results.StatusError, results.ClassCancelled))
	r.ModelDone("qwen3-4b-local", nil)
	r.Plan("gpt-oss-20b-local", 4)
	r.ModelDone("gpt-oss-20b-local", errors.New("deploy: modal deploy exited 1"))
	r.Close()

	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, []string{
		"qwen3-4b-local: looking up",
		"qwen3-4b-local: deploying (looking up 2s)",
		"qwen3-4b-local: warming (deploying 1m12s)",
		// running is not printed as a phase of its own: the attempt lines say it
		"PASS    qwen3-4b-local  file-create #0  12.3s  1 turn  3 tool calls",
		"FAIL    qwen3-4b-local  grep #0  12.3s  1 turn  3 tool calls  checks_failed",
		"ERROR   qwen3-4b-local  count\\x1b[2J #0  12.3s  1 turn  3 tool calls  server_error",
		"progress: qwen3-4b-local  running  3/4  ✓1 ✗1 ⚠1  1h59m  ETA 39m43s",
		// the stopped attempt has no line; the model's last line counts it
		"qwen3-4b-local  done  3/4  ✓1 ✗1 ⚠1 ·1 not run  1h59m",
		"gpt-oss-20b-local  failed: deploy: modal deploy exited 1",
	}, got)
}

func TestPlainProgressWhileQuiet(t *testing.T) {
	// A long deploy prints nothing else: the ticker's line shows the log is alive.
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	out := &lockedBuffer{}
	r := New(out, Options{Now: clk.Now, Interval: 5 * time.Millisecond})
	r.Plan("m", 2)
	r.Phase("m", Deploying, 70*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "progress: m  deploying") {
		require.True(t, time.Now().Before(deadline), "no progress line: %q", out.String())
		clk.Add(time.Second)
		time.Sleep(time.Millisecond)
	}
	r.Close()
	require.Regexp(t, `progress: m  deploying 1m\d\ds  0/2`, out.String())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// wrapper stands for the redaction writer: not an *os.File.
type wrapper struct{ w io.Writer }

func (w wrapper) Write(p []byte) (int, error) { return w.w.Write(p) }

// TestLiveInPseudoTerminal draws through a real pseudo-terminal of 100
// columns, behind a writer that is not the terminal itself (as redaction
// wraps stderr), and replays what the terminal received on a screen.
func TestLiveInPseudoTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Cols: 100, Rows: 40}))
	scr := newScreen(100)
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			scr.feed(buf[:n])
			if err != nil {
				return
			}
		}
	}()

	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := New(wrapper{tty}, Options{Terminal: tty, Now: clk.Now, Refresh: 10 * time.Millisecond, Color: true})
	require.True(t, r.Live())
	long := "a-model-with-a-name-long-enough-to-need-cutting-" + strings.Repeat("x", 60)
	r.Plan("qwen3-4b-local", 10)
	r.Plan("gpt-oss-20b-local", 10)
	r.Plan(long, 10)
	r.Phase("gpt-oss-20b-local", Deploying, 72*time.Second)
	for range 3 {
		r.Started("qwen3-4b-local")
	}
	clk.Add(30 * time.Second)
	r.Finished(attempt("qwen3-4b-local", "file-create", results.StatusPass, ""))
	r.Finished(attempt("qwen3-4b-local", "grep", results.StatusFail, results.ClassChecksFailed))
	r.Started(long)
	r.Println("warning: a line of its own")

	scr.waitFor(t, "qwen3-4b-local  running  2/10  ✓1 ✗1 ⚠0  1 in flight  30s  ETA 2m00s")
	scr.waitFor(t, "gpt-oss-20b-local  deploying 1m42s  0/10")
	s := scr.lines()
	// Finished lines and the notice above, one live line per model below.
	require.Contains(t, s[0], "PASS    qwen3-4b-local  file-create #0")
	require.Contains(t, s[1], "FAIL    qwen3-4b-local  grep #0")
	require.Contains(t, s[2], "warning: a line of its own")
	require.True(t, strings.HasPrefix(s[3], "qwen3-4b-local  running"), s[3])
	require.True(t, strings.HasPrefix(s[4], "gpt-oss-20b-local  deploying"), s[4])
	require.True(t, strings.HasPrefix(s[5], "a-model-with-a-name-long"), s[5])
	require.Len(t, s, 6, "nothing but the lines above: %q", s)
	for _, l := range s {
		require.LessOrEqual(t, runewidth.StringWidth(l), 100, "fits 100 columns: %q", l)
	}

	r.ModelDone("qwen3-4b-local", nil)
	r.Close()
	scr.waitFor(t, "qwen3-4b-local  done  2/10")
	tty.Close()
	<-read
	final := scr.lines()
	require.Len(t, final, 6, "the live lines stay, once each: %q", final)
	if path := os.Getenv("GOATBENCH_SCREEN"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(final, "\n")+"\n"), 0o644))
	}
}

// screen replays what a terminal received: printable text, CR, LF, cursor
// up (ESC[nA), erase below (ESC[J), erase line (ESC[K); colours are dropped.
type screen struct {
	mu       sync.Mutex
	cols     int
	rows     [][]rune
	row, col int
	esc      []byte
	pending  []byte // a UTF-8 sequence cut across reads
}

func newScreen(cols int) *screen { return &screen{cols: cols, rows: [][]rune{nil}} }

func (s *screen) feed(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p = append(s.pending, p...)
	s.pending = nil
	for len(p) > 0 {
		if s.esc != nil {
			s.esc = append(s.esc, p[0])
			p = p[1:]
			if c := s.esc[len(s.esc)-1]; len(s.esc) > 1 && c >= 0x40 && c <= 0x7e {
				s.control(string(s.esc[1:len(s.esc)-1]), c)
				s.esc = nil
			}
			continue
		}
		r, n := utf8Decode(p)
		if n == 0 {
			s.pending = append([]byte(nil), p...)
			return
		}
		p = p[n:]
		switch r {
		case 0x1b:
			s.esc = []byte{}
		case '\r':
			s.col = 0
		case '\n':
			s.row++
			for len(s.rows) <= s.row {
				s.rows = append(s.rows, nil)
			}
		default:
			line := s.rows[s.row]
			for len(line) < s.col {
				line = append(line, ' ')
			}
			if s.col < len(line) {
				line[s.col] = r
			} else {
				line = append(line, r)
			}
			s.rows[s.row] = line
			s.col++
		}
	}
}

func (s *screen) control(params string, c byte) {
	params = strings.TrimPrefix(params, "[")
	n := 1
	if params != "" && c == 'A' {
		n = 0
		for _, d := range params {
			n = n*10 + int(d-'0')
		}
	}
	switch c {
	case 'A':
		s.row = max(0, s.row-n)
	case 'J':
		s.rows = s.rows[:s.row+1]
		if s.col < len(s.rows[s.row]) {
			s.rows[s.row] = s.rows[s.row][:s.col]
		}
	case 'K':
		if s.col < len(s.rows[s.row]) {
			s.rows[s.row] = s.rows[s.row][:s.col]
		}
	}
}

// lines is the screen's text, without the empty line the cursor rests on.
func (s *screen) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

func (s *screen) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if strings.Contains(strings.Join(s.lines(), "\n"), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q:\n%s", text, strings.Join(s.lines(), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func utf8Decode(p []byte) (rune, int) {
	if !utf8.FullRune(p) {
		return 0, 0
	}
	return utf8.DecodeRune(p)
}

// A model whose every attempt was stopped before its verdict still shows
// how long it ran, not a negative time.
func TestAModelStoppedBeforeAnyVerdictShowsItsTime(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var out bytes.Buffer
	r := New(&out, Options{Now: clk.Now, Interval: time.Hour})
	r.Plan("m", 2)
	r.Started("m")
	r.Started("m")
	clk.Add(3 * time.Second)
	r.Finished(attempt("m", "a", results.StatusError, results.ClassCancelled))
	r.Finished(attempt("m", "b", results.StatusError, results.ClassCancelled))
	r.ModelDone("m", nil)
	r.Close()
	require.Equal(t, "m  done  0/2  ✓0 ✗0 ⚠0 ·2 not run  3s", strings.TrimSpace(out.String()))
}
