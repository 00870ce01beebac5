package report

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// wideRun has the widest summary a run makes: long model names, three
// digit counts, intervals, every column filled.
func wideRun() *Run {
	man := results.Manifest{RunID: "20260102-030405-a1b2c3", Suite: "smoke", Repeat: 40}
	for _, name := range []string{"Qwen/Qwen3-30B-A3B-Instruct-2507-FP8", "llama-3.3-70b-instruct-local", "gpt-oss-120b-local"} {
		man.Models = append(man.Models, results.ModelInfo{Name: name, PricePerHour: 12.5, ColdStartSeconds: 1234, HeldSeconds: 98765})
	}
	var as []results.Attempt
	for _, t := range []string{"bash-command", "code-fix", "file-create"} {
		man.Tasks = append(man.Tasks, t)
		for _, m := range man.Models {
			for i := range 40 {
				a := att(m.Name, t, i, results.StatusPass, float64(i), 1234.5)
				if i%3 == 0 {
					a.Status = results.StatusFail
				}
				a.TokensIn, a.TokensOut = 1234567, 234567
				a.Requests = []results.Request{{TTFT: 12.34, Total: 100, TokensOut: 234567}}
				as = append(as, a)
			}
		}
	}
	return New(man, as, nil)
}

// The page must not scroll sideways in a 1400 px window: measured in
// Chromium by a script added to a copy of the page (report.html has none).
func TestHTMLFitsA1400PixelWindow(t *testing.T) {
	bin := chromium(t)
	for name, r := range map[string]*Run{"fixture": loadFixture(t, "run"), "wide": wideRun()} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, r.HTML(&b))
			probe := `<script>document.body.setAttribute("data-scroll-width", document.documentElement.scrollWidth)</script></body>`
			page := filepath.Join(t.TempDir(), "report.html")
			require.NoError(t, os.WriteFile(page, []byte(strings.Replace(b.String(), "</body>", probe, 1)), 0o644))
			dom := string(runChromium(t, bin, "--window-size=1400,900", "--dump-dom", "file://"+page))
			m := regexp.MustCompile(`data-scroll-width="(\d+)"`).FindStringSubmatch(dom)
			require.NotNil(t, m, "the probe ran")
			w, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			require.LessOrEqual(t, w, 1400, "the page is %d px wide", w)
		})
	}
}

// Every character report.html shows must be in DejaVu Sans, the font CI
// installs (fonts-dejavu-core): an empty box otherwise.
func TestHTMLGlyphsAreInTheCIFont(t *testing.T) {
	if _, err := exec.LookPath("fc-list"); err != nil {
		t.Skip("fontconfig's fc-list not found")
	}
	if out, _ := exec.Command("fc-list", ":family=DejaVu Sans").Output(); len(out) == 0 {
		t.Skip("DejaVu Sans not installed (Debian: fonts-dejavu-core)")
	}
	var b bytes.Buffer
	r := wideRun()
	r.Attempts[0].Status = results.StatusTimeout
	r = New(r.Manifest, append(r.Attempts, results.Attempt{Model: "x", Task: "code-fix", Status: results.StatusTimeout}), nil)
	require.NoError(t, r.HTML(&b))
	require.NoError(t, loadFixture(t, "run").HTML(&b))
	seen := map[rune]bool{}
	for _, c := range b.String() {
		if c > unicode.MaxASCII && !seen[c] {
			seen[c] = true
			out, err := exec.Command("fc-list", ":family=DejaVu Sans:charset="+strconv.FormatInt(int64(c), 16), "family").Output()
			require.NoError(t, err)
			require.NotEmpty(t, out, "%q (U+%04X) is not in DejaVu Sans", c, c)
		}
	}
	require.True(t, seen['◷'], "the timeout mark is on the page")
}

func TestHTMLAxisLabels(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.15000000000000002: "0.15", 0.375: "0.375", 2.5: "2.5", 50: "50", 0.30000000000000004: "0.3"} {
		require.Equal(t, want, tickLabel(v))
	}
	// A chart whose axis ends at 0.2 s has a tick at 0.2 × 3/4.
	man := results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1, Models: []results.ModelInfo{{Name: "m"}}}
	r := New(man, []results.Attempt{att("m", "t", 0, results.StatusPass, 0, 0.18)}, nil)
	var b bytes.Buffer
	require.NoError(t, r.HTML(&b))
	require.Contains(t, b.String(), ">0.15</text>")
	require.NotRegexp(t, `\d\.\d{6,}`, b.String())
}

// A failure's conversation is on the page: each message, tool call and
// output, collapsed, capped, escaped.
func TestHTMLShowsTheConversation(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(results.TranscriptsDir, "m", "t-r0.json")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755))
	huge := strings.Repeat("y", 3*transcriptMaxText)
	msgs := []map[string]any{
		{"role": "system", "content": "You are an agent."},
		{"role": "user", "content": "Create hello.py"},
		{"role": "assistant", "tool_calls": []map[string]any{{"id": "c1", "type": "function",
			"function": map[string]any{"name": "write_file", "arguments": `{"path":"hello.py","content":"<script>alert(1)</script>"}`}}}},
		{"role": "tool", "name": "write_file", "tool_call_id": "c1", "content": "wrote 25 bytes </pre></details><b>x</b>"},
		{"role": "tool", "name": "bash", "tool_call_id": "c2", "content": huge},
		{"role": "assistant", "content": "Done <img src=x onerror=alert(1)>"},
	}
	b, err := json.Marshal(map[string]any{"model": "m", "task": "t", "messages": msgs})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, rel), b, 0o644))
	man := results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1, Models: []results.ModelInfo{{Name: "m"}}}
	a := att("m", "t", 0, results.StatusFail, 0, 3)
	a.FailureClass, a.Transcript = results.ClassChecksFailed, rel
	r := New(man, []results.Attempt{a}, nil)
	r.Dir = dir
	var page bytes.Buffer
	require.NoError(t, r.HTML(&page))
	p := page.String()

	require.Contains(t, p, `<details class="transcript"><summary>Conversation (6 steps)</summary>`, "collapsed by default")
	require.Equal(t, 6, strings.Count(p, `<details class="msg `))
	require.Equal(t, 1, strings.Count(p, `" open>`), "only the last step is open inside")
	require.Contains(t, p, "tool call <b>write_file</b>")
	require.Contains(t, p, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, p, "wrote 25 bytes &lt;/pre&gt;&lt;/details&gt;&lt;b&gt;x&lt;/b&gt;")
	require.Contains(t, p, "Done &lt;img src=x onerror=alert(1)&gt;")
	require.NotRegexp(t, `(?i)<(script|img)\b`, p)
	require.Contains(t, p, "more characters in the transcript file")
	require.Less(t, strings.Count(p, "y"), 2*transcriptMaxText, "a long output is capped")

	// A missing transcript is said, and never fails the report.
	a.Transcript = filepath.Join(results.TranscriptsDir, "m", "gone.json")
	r = New(man, []results.Attempt{a}, nil)
	r.Dir = dir
	page.Reset()
	require.NoError(t, r.HTML(&page))
	require.Contains(t, page.String(), "transcript not found")
}
