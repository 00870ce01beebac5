// Package progress shows a run as it happens. On a terminal it keeps one live
// line per model (its phase, counts so far, attempts in flight, elapsed time
// and an ETA) with each finished attempt's line scrolling above; elsewhere
// (CI logs) it prints plain lines: phase changes, one line per attempt, and a
// progress line at most every Interval.
//
// Its input is a handful of methods (Plan, Phase, Started, Finished,
// ModelDone, Println), so whatever drives a run adapts its own events to it
// in a few lines. It never reads the results files.
package progress

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/safetext"
)

// Phase is where a model is in its run.
type Phase string

// The phases of a model, in order.
const (
	Waiting   Phase = "waiting"
	LookingUp Phase = "looking up"
	Deploying Phase = "deploying"
	Warming   Phase = "warming"
	Running   Phase = "running"
	Done      Phase = "done"
	Failed    Phase = "failed" // it could not run (its deploy failed, for example)
)

// timed phases show how long they have lasted: waiting on Modal is the slow part.
var timed = map[Phase]bool{LookingUp: true, Deploying: true, Warming: true}

// DefaultInterval is how often, at most, a plain progress line is printed.
const DefaultInterval = 30 * time.Second

// Options configure a Renderer.
type Options struct {
	// Terminal is the terminal behind the writer, or nil when it is not one.
	// The writer may wrap it (redaction does); the renderer draws through
	// the writer and asks the terminal only for its size.
	Terminal *os.File
	Color    bool
	// Interval spaces the plain progress lines; 0 is DefaultInterval.
	Interval time.Duration
	// Refresh is how often the live lines are redrawn; 0 is 200 ms.
	Refresh time.Duration
	// Now is the clock; nil is time.Now. Tests drive it.
	Now func() time.Time
}

// Renderer shows a run's progress. Its methods are safe for concurrent use.
type Renderer struct {
	w    io.Writer
	o    Options
	now  func() time.Time
	live *mpb.Progress // nil off a terminal

	mu       sync.Mutex
	models   map[string]*model
	order    []string
	lastLine time.Time // last plain progress line
	changed  bool      // something happened since the last plain progress line
	stop     chan struct{}
	stopped  sync.WaitGroup
	closed   bool
}

// model is the live state of one model.
type model struct {
	name                   string
	phase                  Phase
	phaseSince             time.Time // when the phase began, as far as we know
	total                  int       // attempts this run will make
	done, pass, fail, errs int
	notRun                 int // stopped before a verdict
	inFlight               int
	firstStart             time.Time
	finishedAt             time.Time
	note                   string // why it failed
	bar                    *mpb.Bar
}

// New returns a Renderer writing to w. Call Close when the run ends.
func New(w io.Writer, o Options) *Renderer {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Refresh <= 0 {
		o.Refresh = 200 * time.Millisecond
	}
	r := &Renderer{w: w, o: o, now: o.Now, models: map[string]*model{}, stop: make(chan struct{})}
	if r.now == nil {
		r.now = time.Now
	}
	if o.Terminal != nil {
		// mpb finds a terminal only behind an *os.File; the writer wraps one
		// (redaction), so its console writer is told where the terminal is.
		cw := cupwriter.New(w, false)
		cw.SetTermFd(int(o.Terminal.Fd()))
		if cw.IsTerminal() {
			r.live = mpb.New(mpb.WithConsoleWriter(cw), mpb.WithRefreshRate(o.Refresh), mpb.WithAutoRefresh())
		}
	}
	if r.live == nil {
		r.stopped.Add(1)
		go r.ticker()
	}
	return r
}

// Live reports whether the renderer draws live lines (on a terminal).
func (r *Renderer) Live() bool { return r.live != nil }

// Plan announces a model and the number of attempts it will make. Models
// appear in the order they are planned; a model first seen in another call
// is planned with an unknown total.
func (r *Renderer) Plan(name string, attempts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.model(name).total = attempts
}

// Phase records that a model entered a phase, elapsed into it already (a
// deploy that has run for a minute when the event is sent).
func (r *Renderer) Phase(name string, p Phase, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.model(name)
	if m.phase == p {
		return
	}
	prev, since := m.phase, m.phaseSince
	m.phase, m.phaseSince = p, r.now().Add(-elapsed)
	if r.live == nil {
		line := fmt.Sprintf("%s: %s", name, p)
		if timed[prev] {
			line += fmt.Sprintf(" (%s %s)", prev, dur(m.phaseSince.Sub(since)))
		}
		r.printLocked(line)
	}
}

// Started records that one of a model's attempts began.
func (r *Renderer) Started(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.model(name)
	if m.phase != Running {
		m.phase, m.phaseSince = Running, r.now()
	}
	if m.firstStart.IsZero() {
		m.firstStart = r.now()
	}
	m.inFlight++
	r.changed = true
}

// Finished records one attempt's result and prints its line. An attempt
// stopped before its verdict (the run was interrupted) is counted as not run
// and printed by nobody: the run's last line says how many there were.
func (r *Renderer) Finished(a results.Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.model(a.Model)
	if m.inFlight > 0 {
		m.inFlight--
	}
	r.changed = true
	m.finishedAt = r.now()
	switch {
	case a.Cancelled():
		m.notRun++
		return
	case a.Status == results.StatusPass:
		m.pass++
	case a.Status == results.StatusError:
		m.errs++
	default:
		m.fail++
	}
	m.done++
	r.printLocked(r.paintLine(a))
	r.progressLocked(false)
}

// ModelDone records that a model has nothing more to run; err says why it
// could not run at all (nil when it ran).
func (r *Renderer) ModelDone(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.model(name)
	if m.phase == Failed && err == nil {
		return // it failed earlier; the end of its (empty) run changes nothing
	}
	m.phase, m.phaseSince, m.inFlight = Done, r.now(), 0
	if err != nil {
		m.phase, m.note = Failed, safetext.Line(err.Error())
	}
	if r.live == nil {
		r.printLocked(r.statusLocked(m))
		return
	}
	if b := m.bar; b != nil {
		// mpb's calls wait on the goroutine that runs our decorator, which takes r.mu.
		r.unlocked(func() { b.SetTotal(-1, true) }) // its last drawing stays on screen
	}
}

// unlocked runs f without r.mu: every call into mpb waits on its drawing
// goroutine, which calls the decorator, which takes r.mu.
func (r *Renderer) unlocked(f func()) {
	r.mu.Unlock()
	defer r.mu.Lock()
	f()
}

// Println prints a line of its own (a warning, a notice) above the live
// lines, or as it is off a terminal. Everything a run prints to the same
// writer while the renderer is open must go through here.
func (r *Renderer) Println(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.printLocked(safetext.Line(line))
}

// Close draws the final state and stops; nothing is drawn after it.
func (r *Renderer) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.stop)
	var bars []*mpb.Bar
	for _, n := range r.order {
		if b := r.models[n].bar; b != nil {
			bars = append(bars, b)
		}
	}
	r.mu.Unlock()
	r.stopped.Wait()
	if r.live != nil {
		for _, b := range bars {
			if !b.Completed() {
				b.Abort(false) // keep its line: where the model was when the run stopped
			}
		}
		r.live.Wait()
	}
}

func (r *Renderer) model(name string) *model {
	if m, ok := r.models[name]; ok {
		return m
	}
	m := &model{name: name, phase: Waiting, phaseSince: r.now(), total: -1}
	r.models[name] = m
	r.order = append(r.order, name)
	if r.live != nil && !r.closed {
		// One line, no bar: the decorator draws the model's state each refresh.
		var bar *mpb.Bar
		r.unlocked(func() {
			bar = r.live.New(1, mpb.NopStyle(), mpb.BarFillerTrim(), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.statusLocked(m)
			})))
		})
		m.bar = bar
	}
	return m
}

// printLocked prints one line above the live lines, or as is.
func (r *Renderer) printLocked(line string) {
	if r.closed {
		fmt.Fprintln(r.w, line)
		return
	}
	if r.live != nil {
		// mpb writes it above the live lines on the next redraw.
		r.unlocked(func() { _, _ = r.live.Write([]byte(line + "\n")) })
		return
	}
	fmt.Fprintln(r.w, line)
}

// ticker prints the plain progress line when a quiet stretch passes Interval.
func (r *Renderer) ticker() {
	defer r.stopped.Done()
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.mu.Lock()
			r.progressLocked(true)
			r.mu.Unlock()
		}
	}
}

// progressLocked prints the plain progress line when Interval has passed
// since the last one; quiet says to print it even when nothing finished, so
// a long deploy still shows the log is alive.
func (r *Renderer) progressLocked(quiet bool) {
	if r.live != nil || r.closed {
		return
	}
	now := r.now()
	if r.lastLine.IsZero() {
		r.lastLine = now // the first one comes an interval after the start
		return
	}
	if now.Sub(r.lastLine) < r.o.Interval || !(r.changed || quiet) {
		return
	}
	r.lastLine, r.changed = now, false
	var parts []string
	for _, n := range r.order {
		parts = append(parts, r.statusLocked(r.models[n]))
	}
	fmt.Fprintln(r.w, "progress: "+strings.Join(parts, "; "))
}

// statusLocked is a model's live line: name, phase, done/total, counts,
// attempts in flight, elapsed and ETA.
func (r *Renderer) statusLocked(m *model) string {
	now := r.now()
	var b strings.Builder
	b.WriteString(r.paint(ansiBold, m.name))
	b.WriteString("  ")
	phase := string(m.phase)
	if timed[m.phase] {
		phase += " " + dur(now.Sub(m.phaseSince))
	}
	b.WriteString(r.paint(phaseColour(m.phase), phase))
	if m.phase == Failed {
		b.WriteString(": " + m.note)
		return b.String()
	}
	if m.total >= 0 {
		fmt.Fprintf(&b, "  %d/%d", m.done, m.total)
	} else {
		fmt.Fprintf(&b, "  %d", m.done)
	}
	fmt.Fprintf(&b, "  %s %s %s", r.paint(ansiGreen, fmt.Sprintf("✓%d", m.pass)),
		r.paintIf(m.fail > 0, ansiRed, fmt.Sprintf("✗%d", m.fail)), r.paintIf(m.errs > 0, ansiYellow, fmt.Sprintf("⚠%d", m.errs)))
	if m.notRun > 0 {
		fmt.Fprintf(&b, " ·%d not run", m.notRun)
	}
	if m.inFlight > 0 {
		fmt.Fprintf(&b, "  %d in flight", m.inFlight)
	}
	if !m.firstStart.IsZero() {
		end := now
		if m.phase == Done {
			// Its last attempt's end, or its own if it has none (a run
			// stopped while its first attempts ran).
			end = m.finishedAt
			if end.Before(m.firstStart) {
				end = m.phaseSince
			}
		}
		fmt.Fprintf(&b, "  %s", dur(end.Sub(m.firstStart)))
		if eta, ok := m.eta(now); ok && m.phase == Running {
			fmt.Fprintf(&b, "  ETA %s", dur(eta))
		}
	}
	return b.String()
}

// eta extrapolates from the attempts finished so far: their rate, with as
// many in flight as now, over the attempts left.
func (m *model) eta(now time.Time) (time.Duration, bool) {
	left := m.total - m.done - m.notRun
	if m.done == 0 || m.total < 0 || left <= 0 {
		return 0, false
	}
	per := now.Sub(m.firstStart) / time.Duration(m.done)
	return per * time.Duration(left), true
}

// Line is the line of one finished attempt.
func Line(a results.Attempt) string {
	line := fmt.Sprintf("%-7s %s  %s #%d  %.1fs  %s  %s", Mark(a.Status), a.Model, a.Task, a.Repeat, a.WallSeconds,
		Plural(a.Turns, "turn"), Plural(a.ToolCalls, "tool call"))
	if a.Retries > 0 {
		line += "  " + Plural(a.Retries, "retry")
	}
	if a.FailureClass != "" {
		line += "  " + a.FailureClass
	}
	if a.Reason != "" {
		line += ": " + a.Reason
	}
	return safetext.Line(line)
}

// Mark is the word an attempt line starts with.
func Mark(s results.Status) string {
	switch s {
	case results.StatusPass:
		return "PASS"
	case results.StatusFail:
		return "FAIL"
	case results.StatusTimeout:
		return "TIMEOUT"
	}
	return "ERROR"
}

func (r *Renderer) paintLine(a results.Attempt) string {
	line := Line(a)
	if !r.o.Color {
		return line
	}
	mark := Mark(a.Status)
	code := map[results.Status]string{results.StatusPass: ansiGreen, results.StatusFail: ansiRed,
		results.StatusTimeout: ansiPurple, results.StatusError: ansiYellow}[a.Status]
	return code + mark + ansiReset + strings.TrimPrefix(line, mark)
}

// ANSI colours, only when asked for.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiPurple = "\x1b[35m"
	ansiDim    = "\x1b[2m"
)

func (r *Renderer) paint(code, s string) string {
	if !r.o.Color || code == "" {
		return s
	}
	return code + s + ansiReset
}

func (r *Renderer) paintIf(on bool, code, s string) string {
	if !on {
		return s
	}
	return r.paint(code, s)
}

func phaseColour(p Phase) string {
	switch p {
	case Running:
		return ansiBlue
	case Done:
		return ansiGreen
	case Failed:
		return ansiRed
	case Waiting:
		return ansiDim
	}
	return ansiYellow
}

// dur prints a duration the way people read one: 45s, 1m12s, 2h03m.
func dur(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Plural counts n of word: "1 turn", "2 turns", "3 retries".
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Models lists the models in the order they were planned.
func (r *Renderer) Models() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}
