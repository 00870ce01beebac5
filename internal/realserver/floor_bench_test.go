package realserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/goatbench/goatbench/bench/tasks"
	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/runner"
)

// exchange is one request as a client saw it: its body, when it was sent
// (from the arm's start), how long until the reply was read and closed, and
// the work llama-server says it did for it (the "timings" object it puts in
// a plain reply and in a stream's last chunk). wrote and last split the
// latency: until the transport reported the request written (atomic: the
// transport's writing goroutine sets it), and until the read that returned
// the reply's last bytes or its end; what comes before the one and after
// the other is the client's own. writes counts the tries the transport
// wrote: more than one is a resend after a pooled connection the server
// had closed, and wrote then holds the failed try and the new dial.
type exchange struct {
	body    []byte
	at      time.Duration
	latency time.Duration
	wrote   atomic.Int64 // nanoseconds
	writes  atomic.Int32
	last    time.Duration
	timings serverTimings
	events  int // blank lines ending an event-stream event, [DONE]'s too
	reads   int // reads of the reply that returned bytes
}

type serverTimings struct {
	CacheN     int     `json:"cache_n"`  // prompt tokens taken from the slot's cache
	PromptN    int     `json:"prompt_n"` // prompt tokens evaluated
	PredictedN int     `json:"predicted_n"`
	PromptMS   float64 `json:"prompt_ms"`
	PredMS     float64 `json:"predicted_ms"`
}

// lastTimings finds the last "timings" object in a reply's tail.
func lastTimings(tail []byte) serverTimings {
	var t serverTimings
	i := bytes.LastIndex(tail, []byte(`"timings":`))
	if i < 0 {
		return t
	}
	_ = json.NewDecoder(bytes.NewReader(tail[i+len(`"timings":`):])).Decode(&t)
	return t
}

// recorder is a transport that records every exchange through it. It keeps
// only a reply's last bytes, so it costs the client under test next to nothing.
type recorder struct {
	base  http.RoundTripper
	start time.Time
	mu    sync.Mutex
	log   []*exchange
}

func (c *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	x := &exchange{at: time.Since(c.start)}
	begun := time.Now()
	// Merged with the client's own trace, if it has one (httptrace.WithClientTrace).
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) {
			x.wrote.Store(int64(time.Since(begun)))
			x.writes.Add(1)
		},
	}))
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		x.body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &tailBody{ReadCloser: resp.Body, begun: begun, last: &x.last, x: x, done: func(tail []byte) {
		x.latency, x.timings = time.Since(begun), lastTimings(tail)
		c.mu.Lock()
		c.log = append(c.log, x)
		c.mu.Unlock()
	}}
	return resp, nil
}

type tailBody struct {
	io.ReadCloser
	tail  []byte
	begun time.Time
	last  *time.Duration // when a read last returned bytes, or the end
	x     *exchange      // its events and reads are counted here
	done  func([]byte)
}

func (t *tailBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	// The end counts: a stream's last bytes on the wire are its chunked
	// encoding's terminator, which carries none of the body's.
	if n > 0 || err == io.EOF {
		*t.last = time.Since(t.begun)
	}
	if n > 0 {
		t.x.reads++
		// An event ends at a blank line; llama-server ends its lines with
		// "\n". A "\n\n" split between two reads counts once.
		t.x.events += bytes.Count(p[:n], []byte("\n\n"))
		if len(t.tail) > 0 && t.tail[len(t.tail)-1] == '\n' && p[0] == '\n' {
			t.x.events++
		}
	}
	t.tail = append(t.tail, p[:n]...)
	if len(t.tail) > 4<<10 {
		t.tail = append(t.tail[:0], t.tail[len(t.tail)-2<<10:]...)
	}
	return n, err
}

func (t *tailBody) Close() error {
	if t.done != nil {
		t.done(t.tail)
		t.done = nil
	}
	return t.ReadCloser.Close()
}

// pooled is the floor's transport: Go's own, keeping idle connections for
// every client in flight.
func pooled() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

// busy is the CPU time this machine's own work took, from /proc/stat's
// first line (proc(5): user nice system idle iowait irq softirq steal guest
// guest_nice, in USER_HZ): all but idle, I/O wait and steal. Its 10 ms ticks
// against getrusage's finer clock leave the difference a tenth or two of a
// millisecond per request either way at 50 tasks a chunk.
func busy(b testing.TB) time.Duration {
	stat, err := os.ReadFile("/proc/stat")
	require.NoError(b, err)
	line, _, _ := strings.Cut(string(stat), "\n")
	var t int64
	for i, v := range strings.Fields(line)[1:] {
		// idle, iowait, steal (the hypervisor's, given to other guests);
		// guest time is in user and nice already
		if i == 3 || i == 4 || i >= 7 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		t += n
	}
	return time.Duration(t) * 10 * time.Millisecond
}

// cpu is this process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is llama-server's user+system CPU time, from /proc.
func serverCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// arm is what one way of sending the requests cost, summed over rounds.
type arm struct {
	requests       int
	wall, cpu, srv time.Duration
	machine        time.Duration // the whole machine's busy CPU
	retries        int
	promptN, cache int
	log            []*exchange
}

func (a *arm) add(o arm) {
	a.requests += o.requests
	a.wall += o.wall
	a.cpu += o.cpu
	a.srv += o.srv
	a.machine += o.machine
	a.retries += o.retries
	a.promptN += o.promptN
	a.cache += o.cache
	a.log = append(a.log, o.log...)
}

func (a *arm) tally(b *testing.B, log []*exchange) {
	a.log = log
	a.requests = len(log)
	for _, x := range log {
		if x.timings.PromptN+x.timings.CacheN == 0 {
			b.Fatalf("a reply without the server's timings, which every figure here needs: %.300q", x.body)
		}
		a.promptN += x.timings.PromptN
		a.cache += x.timings.CacheN
	}
}

// twoTurnSuite writes n two-turn tasks to a folder and loads them: against
// the tiny model each is one tool call and one answer. The call is
// write_file with an empty path, which the tool refuses (40 of 40 here), so
// no command runs: the attempts compete with llama-server for the cores
// with the harness's work alone. The check fails, as every check does
// against this model; what is measured is the traffic.
func twoTurnSuite(b *testing.B, n int) tasks.Suite {
	dir := b.TempDir()
	for i := range n {
		task := fmt.Sprintf("id: two-turn-%03d\nprompt: Task %d. Use the bash tool once, then answer in one word.\nmax_turns: 2\ntimeout: 2m\nchecks:\n  - answer_contains: \"goat-%d\"\nreference:\n  - answer: goat-%d\n", i, i, i, i)
		require.NoError(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("t%03d.yaml", i)), []byte(task), 0o644))
	}
	s, err := tasks.LoadDir(dir)
	require.NoError(b, err)
	require.Len(b, s.Tasks, n)
	return s
}

// profile starts a CPU profile named prefix-name.pprof when
// GOATBENCH_BENCH_CPUPROFILE gives a prefix, and returns what stops it.
func profile(b *testing.B, name string) (stop func()) {
	prefix := os.Getenv("GOATBENCH_BENCH_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "-" + name + ".pprof")
	require.NoError(b, err)
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatalf("GOATBENCH_BENCH_CPUPROFILE: %v (go test's -cpuprofile profiles the whole benchmark; use one or the other)", err)
	}
	return func() {
		pprof.StopCPUProfile()
		require.NoError(b, f.Close())
	}
}

// goatbenchArm runs a suite through the runner, over goatbench's own
// transport, and returns what it cost, with every exchange it made.
func goatbenchArm(b *testing.B, suite tasks.Suite, noStream bool, parallel int) arm {
	rec := &recorder{base: runner.NewTransport()}
	dir := b.TempDir()
	r, err := runner.New(suite, runner.Options{RunID: "bench", RunDir: dir, Parallel: parallel, Repeat: 1, Retry: runner.DefaultRetry})
	require.NoError(b, err)
	c0, s0, m0 := cpu(), serverCPU(server.PID), busy(b)
	rec.start = time.Now()
	require.NoError(b, r.RunModel(context.Background(), runner.Model{Name: "tiny", ModelID: "tiny-random",
		Client: runner.NewClient(server.URL, "", runner.WithTransport(rec)), NoStream: noStream}))
	a := arm{wall: time.Since(rec.start), cpu: cpu() - c0, srv: serverCPU(server.PID) - s0, machine: busy(b) - m0}
	require.NoError(b, r.Close())
	attempts, _, err := results.ReadAttempts(dir)
	require.NoError(b, err)
	requests := 0
	for _, at := range attempts {
		a.retries += at.Retries
		requests += len(at.Requests)
	}
	a.tally(b, rec.log)
	require.Equal(b, requests, a.requests, "every request the runner recorded went through the recorder")
	return a
}

// floorArm sends the bodies again with a bare keep-alive client, parallel
// at a time and back to back, each reply read to its end.
func floorArm(b *testing.B, from []*exchange, parallel int) arm {
	each := make([][]*exchange, len(from))
	for i, x := range from {
		each[i] = []*exchange{x}
	}
	return replayArm(b, each, parallel)
}

// pacedFloorArm sends the bodies again with a bare keep-alive client, each
// task's requests in their order and no more than parallel tasks at a time,
// leaving between a reply and the task's next request the time goatbench
// left (its tool call, its bookkeeping). The server so sees goatbench's
// arrivals, not back-to-back ones: a request that arrives while the
// server's other slots are mid-step waits for that step, one that follows a
// reply does not, and the back-to-back floor has only the latter.
func pacedFloorArm(b *testing.B, from []*exchange, parallel int) arm {
	byTask := map[string][]*exchange{}
	var tasks [][]*exchange
	for _, x := range from {
		var body struct {
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		require.NoError(b, json.Unmarshal(x.body, &body))
		task := ""
		for _, m := range body.Messages {
			if m.Role == "user" {
				task = m.Content
				break
			}
		}
		byTask[task] = append(byTask[task], x)
	}
	for _, xs := range byTask {
		tasks = append(tasks, xs)
	}
	return replayArm(b, tasks, parallel)
}

// replayArm sends each sequence's bodies in the order goatbench sent them,
// parallel sequences at a time, started in the order their first request
// was; within one, it leaves between a reply and the next request the time
// goatbench left.
func replayArm(b *testing.B, seqs [][]*exchange, parallel int) arm {
	for _, xs := range seqs {
		slices.SortFunc(xs, func(p, q *exchange) int { return int(p.at - q.at) })
	}
	slices.SortFunc(seqs, func(p, q []*exchange) int { return int(p[0].at - q[0].at) })
	rec := &recorder{base: pooled()}
	hc := &http.Client{Transport: rec}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(parallel)
	c0, s0, m0 := cpu(), serverCPU(server.PID), busy(b)
	rec.start = time.Now()
	for _, xs := range seqs {
		g.Go(func() error {
			var replied time.Time
			for i, x := range xs {
				if i > 0 {
					time.Sleep(x.at - (xs[i-1].at + xs[i-1].latency) - time.Since(replied))
				}
				if err := replay(ctx, hc, x.body); err != nil {
					return err
				}
				replied = time.Now()
				spin(floorWork) // within the gap goatbench left, not beside it
			}
			return nil
		})
	}
	require.NoError(b, g.Wait())
	a := arm{wall: time.Since(rec.start), cpu: cpu() - c0, srv: serverCPU(server.PID) - s0, machine: busy(b) - m0}
	a.tally(b, rec.log)
	return a
}

// floorWork is how long the floors keep a core busy after each reply
// (GOATBENCH_BENCH_FLOOR_WORK, in microseconds; none unless set), within
// the paced floor's gap before the task's next request. Set to 1000 times
// harness-cpu-ms/req less floor-cpu-ms/req of a run without it, it gives
// the floors goatbench's CPU without its work (floor-cpu-ms/req then holds
// the spinning), so what goatbench's bookkeeping on the cores llama-server
// computes on costs the server's steps can be told from the rest.
var floorWork = func() time.Duration {
	us, _ := strconv.Atoi(os.Getenv("GOATBENCH_BENCH_FLOOR_WORK"))
	return time.Duration(us) * time.Microsecond
}()

// spin keeps its thread busy for d.
func spin(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

// replay sends one body and reads the reply to its end.
func replay(ctx context.Context, hc *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server.URL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header["Idempotency-Key"] = nil
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// measure is one figure of one exchange.
type measure func(*exchange) time.Duration

// beyond is a request's latency minus the time the server says it spent
// computing the reply: what HTTP, waiting for the step the server's other
// slots are in, templating, tokenizing and the client itself add. Set
// against the same figure for a bare client sending the same bodies, it is
// what goatbench's requests cost beyond the floor's, whatever the load did
// to the computing.
func beyond(x *exchange) time.Duration { return x.latency - x.timings.compute() }

// own is the client's own part of a request's latency: until the transport
// reported the request written (a resend's failed try and new dial
// included: see resent), and from the read that returned the reply's end
// to the reply's close. What lies between is the network's and the
// server's, and the client's reading of a stream's events as they come:
// that is in own only if the client falls behind the server, which would
// delay the read of the end, and a streamed event costs goatbench tens of
// microseconds of CPU where they come milliseconds apart. What the client
// does between the last event and its read of the end is in own only when
// the end had come by then; the rest of it overlapped the wait for the
// server's last write, and cost no latency.
func own(x *exchange) time.Duration { return time.Duration(x.wrote.Load()) + x.latency - x.last }

// resent is the share of the exchanges the transport wrote more than once.
func resent(log []*exchange) float64 {
	n := 0
	for _, x := range log {
		if x.writes.Load() > 1 {
			n++
		}
	}
	return float64(n) / float64(max(1, len(log)))
}

// each is f of every exchange.
func each(log []*exchange, f measure) []time.Duration {
	d := make([]time.Duration, len(log))
	for i, x := range log {
		d[i] = f(x)
	}
	return d
}

// median is f's median over the exchanges.
func median(log []*exchange, f measure) time.Duration {
	if len(log) == 0 {
		return 0
	}
	d := each(log, f)
	slices.Sort(d)
	return d[len(d)/2]
}

// mean is f's mean over the exchanges.
func mean(log []*exchange, f measure) time.Duration {
	if len(log) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range each(log, f) {
		sum += d
	}
	return sum / time.Duration(len(log))
}

// medianSpread is the half-width, in ms, of a 95% bootstrap interval for
// median(a, f) - median(b, f): what the difference of two medians of a few
// hundred requests can tell apart. At --parallel 4 a request's time beyond
// the server's computing spreads over tens of milliseconds (waiting for the
// step the server's other slots are in, templating, tokenizing), so its
// median moves by about a millisecond from one sample to the next. The
// interval takes requests as independent, which those of one run are not
// (they share the server's state), so the figure moves between runs by more
// than it says.
func medianSpread(a, b []*exchange, f measure) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	da, db := each(a, f), each(b, f)
	rng := rand.New(rand.NewPCG(1, 2))
	resampled := func(d []time.Duration, buf []time.Duration) time.Duration {
		for i := range buf {
			buf[i] = d[rng.IntN(len(d))]
		}
		slices.Sort(buf)
		return buf[len(buf)/2]
	}
	ba, bb := make([]time.Duration, len(da)), make([]time.Duration, len(db))
	diffs := make([]float64, 1000)
	for i := range diffs {
		diffs[i] = float64(resampled(da, ba)-resampled(db, bb)) / 1e6
	}
	slices.Sort(diffs)
	return (diffs[975] - diffs[25]) / 2
}

func (t serverTimings) compute() time.Duration {
	return time.Duration((t.PromptMS + t.PredMS) * float64(time.Millisecond))
}

// BenchmarkStreamingVersusFloor runs 200 generated two-turn tasks at
// --parallel 4 against llama-server, streamed and plain, and after each run
// sends the exact bodies it sent again with a bare keep-alive client, back
// to back (the floor) and at goatbench's pace (the paced floor). Runs and
// floors take turns over four chunks of 50 tasks, and the mode that goes
// first alternates, so a change in the machine's load falls
// on every arm. Per request and per mode it reports:
//
//   - p50-over-floor-ms: the median of latency minus the server's own
//     computing time (its "timings"), goatbench's less the floor's;
//
//   - p50-over-paced-floor-ms: the same against a floor that keeps
//     goatbench's pace (see pacedFloorArm), which takes the arrival
//     pattern's cost out but not what goatbench's CPU, spent on the cores
//     the server computes on, costs the server's steps (see floorWork);
//     -ci95-ms beside it is how far that figure can be trusted (see
//     medianSpread), and mean-over-paced-floor-ms is the same difference in
//     means;
//
//   - own-p50-ms: the median of the client's own part of a request's
//     latency (see own), the paced floor's beside it, and the difference
//     with its -ci95-ms; resent/req beside them is the share of requests
//     sent again after a pooled connection the server had closed, whose
//     own holds a new dial. What the p50s over the floors hold beyond own
//     is the server's: how long a request waited for the step the server's
//     other slots were in moves by milliseconds from run to run;
//
//   - wall-over-floor-ms/req: wall time over the floor's, which also holds
//     the workspaces, tool calls and checks goatbench makes and the floor
//     does not;
//
//   - harness-cpu-ms/req and floor-cpu-ms/req, and other-cpu-ms/req: the
//     machine's CPU beyond this process and the server's, in which the
//     sandbox's own processes (the session's init moving workspaces in and
//     out) would show, beside the paced floor's;
//
//   - server-cpu-ms/req (llama-server's CPU over the arm, which includes its
//     threads' polling while idle) and server-compute-ms/req (what the server
//     says it computed), each beside the floor's;
//
//   - prompt-tokens/req: the prompt tokens the server evaluated rather than
//     took from a slot's cache, beside the floor's;
//
//   - retries;
//
//   - stream-events/req, stream-reads/req and
//     stream-over-plain-cpu-us/event, goatbench's and the floor's: the
//     events in a streamed reply, the reads of it that returned bytes, and
//     what a streamed request's CPU over a plain one comes to per event
//     (with the connection each streamed request dials here: llama-server
//     closes it after a stream).
//
// GOATBENCH_BENCH_CPUPROFILE=prefix writes a CPU profile (pprof) of each
// goatbench run, prefix-stream-N.pprof and prefix-plain-N.pprof, the floors
// left out; go tool pprof takes a mode's files together:
//
//	go tool pprof -top prefix-stream-*.pprof
//
// GOATBENCH_BENCH_PARALLEL=1 runs every arm one request at a time, and
// GOATBENCH_BENCH_FLOOR_WORK gives the floors CPU work (see floorWork).
//
//	go test ./internal/realserver -run '^$' -bench StreamingVersusFloor -benchtime 1x
func BenchmarkStreamingVersusFloor(b *testing.B) {
	if server == nil {
		b.Skip("llama-server kit not found: " + skipWhy)
	}
	n := 200
	if v, _ := strconv.Atoi(os.Getenv("GOATBENCH_BENCH_TASKS")); v > 0 {
		n = v // a shorter run while working on the harness
	}
	suite := twoTurnSuite(b, n)
	par := 4
	if v, _ := strconv.Atoi(os.Getenv("GOATBENCH_BENCH_PARALLEL")); v > 0 {
		par = v // 1: no request waits behind another's batch step or bookkeeping
	}
	const chunks = 4
	arms := map[string]*arm{}
	for _, m := range []string{"stream", "plain"} {
		arms[m], arms["floor-"+m], arms["paced-"+m] = &arm{}, &arm{}, &arm{}
	}
	// Fill the server's slots with the prompt every task shares first: a
	// fresh server evaluates it whole in as many requests as it has slots,
	// and the arm that happened to go first would pay for that.
	warm := suite
	warm.Tasks = suite.Tasks[:4]
	goatbenchArm(b, warm, true, 4)
	round := 0
	for b.Loop() {
		for c := range chunks {
			part := suite
			part.Tasks = suite.Tasks[c*n/chunks : (c+1)*n/chunks]
			modes := []string{"stream", "plain"}
			if round%2 == 1 {
				slices.Reverse(modes)
			}
			round++
			for _, m := range modes {
				stop := profile(b, fmt.Sprintf("%s-%d", m, round))
				g := goatbenchArm(b, part, m == "plain", par)
				stop()
				arms[m].add(g)
				arms["floor-"+m].add(floorArm(b, g.log, par))
				arms["paced-"+m].add(pacedFloorArm(b, g.log, par))
			}
		}
	}
	per := func(d time.Duration, n int) float64 { return float64(d) / float64(n) / 1e6 }
	for _, m := range []string{"stream", "plain"} {
		g, f := arms[m], arms["floor-"+m]
		computed := func(a *arm) (d time.Duration) {
			for _, x := range a.log {
				d += x.timings.compute()
			}
			return d
		}
		p := arms["paced-"+m]
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		b.ReportMetric(ms(median(g.log, beyond)-median(f.log, beyond)), m+"-p50-over-floor-ms")
		b.ReportMetric(ms(median(g.log, beyond)-median(p.log, beyond)), m+"-p50-over-paced-floor-ms")
		b.ReportMetric(medianSpread(g.log, p.log, beyond), m+"-p50-over-paced-floor-ci95-ms")
		b.ReportMetric(ms(mean(g.log, beyond)-mean(p.log, beyond)), m+"-mean-over-paced-floor-ms")
		b.ReportMetric(ms(median(g.log, own)), m+"-own-p50-ms")
		b.ReportMetric(ms(median(p.log, own)), m+"-paced-floor-own-p50-ms")
		b.ReportMetric(ms(median(g.log, own)-median(p.log, own)), m+"-own-p50-over-paced-floor-ms")
		b.ReportMetric(medianSpread(g.log, p.log, own), m+"-own-p50-over-paced-floor-ci95-ms")
		b.ReportMetric(resent(g.log), m+"-resent/req")
		b.ReportMetric(resent(p.log), m+"-paced-floor-resent/req")
		b.ReportMetric(per(g.wall, g.requests)-per(f.wall, f.requests), m+"-wall-over-floor-ms/req")
		b.ReportMetric(per(g.cpu, g.requests), m+"-harness-cpu-ms/req")
		b.ReportMetric(per(f.cpu, f.requests), m+"-floor-cpu-ms/req")
		b.ReportMetric(per(g.machine-g.srv-g.cpu, g.requests), m+"-other-cpu-ms/req")
		b.ReportMetric(per(p.machine-p.srv-p.cpu, p.requests), m+"-paced-floor-other-cpu-ms/req")
		b.ReportMetric(per(g.srv, g.requests), m+"-server-cpu-ms/req")
		b.ReportMetric(per(f.srv, f.requests), m+"-floor-server-cpu-ms/req")
		b.ReportMetric(per(computed(g), g.requests), m+"-server-compute-ms/req")
		b.ReportMetric(per(computed(f), f.requests), m+"-floor-server-compute-ms/req")
		b.ReportMetric(float64(g.promptN)/float64(g.requests), m+"-prompt-tokens/req")
		b.ReportMetric(float64(f.promptN)/float64(f.requests), m+"-floor-prompt-tokens/req")
		b.ReportMetric(float64(g.retries), m+"-retries")
	}
	b.ReportMetric(per(arms["stream"].cpu, arms["stream"].requests)/per(arms["plain"].cpu, arms["plain"].requests), "stream/plain-cpu")
	// What streaming adds is paid per event: the CPU a streamed request
	// costs over a plain one, over the events a streamed reply holds, for
	// goatbench and for the bare client replaying its bodies back to back.
	for _, p := range []string{"", "floor-"} {
		s, q := arms[p+"stream"], arms[p+"plain"]
		events, reads := 0, 0
		for _, x := range s.log {
			events += x.events
			reads += x.reads
		}
		if events == 0 {
			continue
		}
		perEvent := (per(s.cpu, s.requests) - per(q.cpu, q.requests)) * 1000 / (float64(events) / float64(s.requests))
		b.ReportMetric(float64(events)/float64(s.requests), p+"stream-events/req")
		b.ReportMetric(float64(reads)/float64(s.requests), p+"stream-reads/req")
		b.ReportMetric(perEvent, p+"stream-over-plain-cpu-us/event")
	}
}

// TestTailBodyCountsEvents checks the streaming benchmark's counts on a
// stream read a byte at a time, where every blank line ending an event is
// split between two reads.
func TestTailBodyCountsEvents(t *testing.T) {
	stream := "data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n"
	x := &exchange{}
	body := &tailBody{ReadCloser: io.NopCloser(iotest.OneByteReader(strings.NewReader(stream))), begun: time.Now(), last: &x.last, x: x}
	_, err := io.Copy(io.Discard, body)
	require.NoError(t, err)
	require.Equal(t, 3, x.events)
	require.Equal(t, len(stream), x.reads)

	x = &exchange{}
	body = &tailBody{ReadCloser: io.NopCloser(strings.NewReader(stream)), begun: time.Now(), last: &x.last, x: x}
	_, err = io.Copy(io.Discard, body)
	require.NoError(t, err)
	require.Equal(t, 3, x.events, "the same stream in one read")
	require.Equal(t, 1, x.reads)
}
