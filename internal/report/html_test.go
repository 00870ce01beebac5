package report

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, loadFixture(t, "run").HTML(&b))
	page := b.String()
	require.NotRegexp(t, `(?i)<(script|link|img|iframe)\b`, page, "nothing to load")
	require.NotRegexp(t, `(?i)\b(src|href)\s*=`, page, "nothing fetched")
	require.NotRegexp(t, `(?i)url\(`, page, "no remote CSS resources")
}

// chromium finds a headless Chromium ($GOATBENCH_CHROMIUM, Debian's
// chromium, or Chrome as CI runners ship it), or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GOATBENCH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "google-chrome", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("headless Chromium not found (Debian: apt-get install chromium); skipping the browser check of report.html")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(flags, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "chromium: %s", lastLines(stderr.String(), 5))
	return stdout.Bytes()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// The page is opened in a real browser: its DOM must hold the tables, charts
// and failures, and the screenshot must show the table headers and the bars
// in their colours.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium(t)
	r := loadFixture(t, "run")
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	require.NoError(t, r.HTML(&b))
	require.NoError(t, os.WriteFile(page, b.Bytes(), 0o644))
	url := "file://" + page

	dom := string(runChromium(t, bin, "--dump-dom", url))
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(dom, -1)) }
	summary := regexp.MustCompile(`(?s)<table id="summary">.*?</table>`).FindString(dom)
	require.NotEmpty(t, summary, "summary table in the DOM")
	require.Equal(t, len(r.Models()), strings.Count(summary, "<tr>")-1, "a row per model under the header")
	for _, m := range r.Models() {
		require.Contains(t, summary, ">"+m.Model+"<")
	}
	matrix := regexp.MustCompile(`(?s)<table id="matrix">.*?</table>`).FindString(dom)
	require.Equal(t, len(r.Tasks()), strings.Count(matrix, "<tr>")-1, "a row per task under the header")
	require.Equal(t, len(r.Models()), count(`<svg class="chart"`), "a chart per model")
	require.Equal(t, len(r.Models())*len(r.Tasks()), count(`<rect class="bar `), "a bar per task and model")
	require.Equal(t, len(r.failures()), count(`<details class="failure">`), "a block per failure")

	shot := filepath.Join(dir, "shot.png")
	runChromium(t, bin, "--window-size=1400,1800", "--screenshot="+shot, url)
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 1400, 1800), img.Bounds())

	pixels := colourCounts(img)
	// Table headers (#eaeef2), passing bars (#1a7f37) and the bar of a task
	// that failed every repeat (#cf222e) must be painted.
	header := color.RGBA{0xea, 0xee, 0xf2, 0xff}
	pass := color.RGBA{0x1a, 0x7f, 0x37, 0xff}
	fail := color.RGBA{0xcf, 0x22, 0x2e, 0xff}
	require.Greater(t, pixels[header], 14*30*20, "summary and matrix header cells")
	require.Greater(t, pixels[pass], 5*100*16, "green bars")
	require.Greater(t, pixels[fail], 100*16, "the red bar of gpt-oss-20b-local on code-fix")
}

func colourCounts(img image.Image) map[color.RGBA]int {
	out := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			out[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	return out
}
