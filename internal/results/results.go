// Package results owns the results stream: one JSON line per attempt in
// results.jsonl and the run.json manifest beside it. It is the contract
// between the runner, which writes it, and every reporter, which only reads it.
package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// File names inside a run folder.
const (
	AttemptsFile   = "results.jsonl"
	ManifestFile   = "run.json"
	TranscriptsDir = "transcripts"
)

// Status is the outcome of one attempt.
type Status string

// The four statuses. StatusError means the infrastructure failed: it is never
// counted as a pass or as a fail.
const (
	StatusPass    Status = "pass"
	StatusFail    Status = "fail"
	StatusError   Status = "error"
	StatusTimeout Status = "timeout"
)

// Failure classes, one on every attempt that did not pass.
const (
	ClassChecksFailed     = "checks_failed"
	ClassMaxTurns         = "max_turns"
	ClassNoFinalAnswer    = "no_final_answer"
	ClassToolCallAsText   = "tool_call_as_text"
	ClassBadToolArguments = "bad_tool_arguments"
	ClassContextLength    = "context_length"
	// ClassCutOff is a final answer whose reply ended at the token limit
	// (finish_reason "length"): the model's output, so a fail.
	ClassCutOff      = "cut_off"
	ClassServerError = "server_error"
	ClassRateLimited = "rate_limited"
	ClassCancelled   = "cancelled"
	ClassTimeout     = "timeout"
	ClassDeploy      = "deploy_failed"
	// ClassOversizedReply is a reply over the client's caps (body, one
	// stream event, one tool call's arguments): the model's output, so a fail.
	ClassOversizedReply = "oversized_reply"
	// ClassNoResponse is a request the server never began to answer before
	// the attempt's timeout: the server's fault, so an error.
	ClassNoResponse = "no_response"
)

// ClassWorkspace is a fail: what the model left in its workspace stopped
// goatbench from working in it (a tree too deep to walk, say).
const ClassWorkspace = "workspace_unusable"

// Request is the latency record of one chat completion request. Its timings
// are those of the try that answered (or failed last); time spent on retries
// is in RetryWait, so latency figures are never inflated by backoff.
type Request struct {
	TTFT      float64 `json:"ttft_s,omitempty"` // time to first token; 0 when not streamed
	Total     float64 `json:"total_s"`
	TokensIn  int     `json:"tokens_in"`
	TokensOut int     `json:"tokens_out"`
	// TokensPerSec is the output rate: tokens out over the time after the
	// first token when streamed (the decode speed), over the total otherwise.
	TokensPerSec float64  `json:"tokens_per_s,omitempty"`
	Stream       bool     `json:"stream,omitempty"`
	Retries      int      `json:"retries,omitempty"`
	RetryWait    float64  `json:"retry_wait_s,omitempty"` // seconds spent waiting between tries
	Retried      []string `json:"retried,omitempty"`      // why each retry happened, one line each
	Error        string   `json:"error,omitempty"`        // the failure that ended the request, if it failed
	CostUSD      float64  `json:"cost_usd,omitempty"`     // from x-litellm-response-cost when present
	// More is how many later requests this record also stands for, past
	// the MaxRequests a line lists (AddRequest).
	More int `json:"more,omitempty"`
}

// MaxRequests is how many records of its requests an attempt's line holds.
// An agent may make any number (a hostile one, thousands of refused
// requests a second, or a task's max_turns in the millions), and a line past
// MaxLine would make the whole results file unreadable.
const MaxRequests = 500

// maxRequestText bounds each text of a request's record (its error, each
// reason it was retried) and maxRetried how many reasons it keeps:
// goatbench's own are a few hundred bytes, but a record may hold what a
// relayed agent sent.
const (
	maxRequestText = 1000
	maxRetried     = 8
)

// AddRequest appends r to an attempt's records, keeping at most
// MaxRequests: when they are full, neighbouring records are merged in pairs,
// so each stands for the same number of consecutive requests (the last for
// as many or fewer), and the records still sample the whole attempt: the
// time to first token of the report's percentiles is each record's first
// streamed request's. A merged record sums its requests' times, tokens, retries and
// cost, and ends as its last request did: with its error and retry reasons.
func AddRequest(reqs []Request, r Request) []Request {
	return addRequest(reqs, r, MaxRequests)
}

// addRequest is AddRequest keeping at most most records, at least 2 (one
// record cannot be halved).
func addRequest(reqs []Request, r Request, most int) []Request {
	r.Error = cutText(r.Error, maxRequestText)
	if len(r.Retried) > maxRetried {
		r.Retried = r.Retried[len(r.Retried)-maxRetried:]
	}
	r.Retried = slices.Clone(r.Retried)
	for i := range r.Retried {
		r.Retried[i] = cutText(r.Retried[i], maxRequestText)
	}
	n := len(reqs)
	if n > 0 && reqs[n-1].More < reqs[0].More { // the last group is not full yet
		fold(&reqs[n-1], r)
		return reqs
	}
	if n >= most {
		half := reqs[:0]
		for i := 0; i+1 < n; i += 2 {
			q := reqs[i]
			fold(&q, reqs[i+1])
			half = append(half, q)
		}
		if n%2 == 1 {
			half = append(half, reqs[n-1])
		}
		reqs = half
		if k := len(reqs); k > 0 && reqs[k-1].More < reqs[0].More {
			fold(&reqs[k-1], r)
			return reqs
		}
	}
	return append(reqs, r)
}

// fold sums r, the requests after *into's, into it. Its time to first token
// (and token rate) are its first streamed request's: a refused or plain one
// has none, and taking its zero would lose the sample.
func fold(into *Request, r Request) {
	if into.TTFT == 0 && r.TTFT > 0 {
		into.TTFT, into.TokensPerSec, into.Stream = r.TTFT, r.TokensPerSec, r.Stream
	}
	into.More += 1 + r.More
	into.Total += r.Total
	into.TokensIn += r.TokensIn
	into.TokensOut += r.TokensOut
	into.Retries += r.Retries
	into.RetryWait += r.RetryWait
	into.CostUSD += r.CostUSD
	into.Retried, into.Error = r.Retried, r.Error
}

func overText(r Request) bool {
	return len(r.Error) > maxRequestText || len(r.Retried) > maxRetried ||
		slices.ContainsFunc(r.Retried, func(s string) bool { return len(s) > maxRequestText })
}

// cutText is s cut to at most n bytes, at a character's start.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// foldRequests is reqs as AddRequest would keep them, at most most: a line
// the built-in loop made, or one read back, is bounded as the proxy's are.
// The caller's records are left as they were.
func foldRequests(reqs []Request, most int) []Request {
	if len(reqs) <= most && !slices.ContainsFunc(reqs, overText) {
		return reqs
	}
	var out []Request
	for _, r := range reqs {
		out = addRequest(out, r, most)
	}
	return out
}

// Check is the verdict of one task check.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
}

// Attempt is one line of results.jsonl: one model on one task, one repeat.
type Attempt struct {
	RunID          string    `json:"run_id"`
	Model          string    `json:"model"`
	Task           string    `json:"task"`
	Repeat         int       `json:"repeat"`
	Status         Status    `json:"status"`
	FailureClass   string    `json:"failure_class,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	Started        time.Time `json:"started"`
	WallSeconds    float64   `json:"wall_s"`
	Turns          int       `json:"turns"`
	ToolCalls      int       `json:"tool_calls"`
	ToolErrors     int       `json:"tool_errors"`
	TokensIn       int       `json:"tokens_in"`
	TokensOut      int       `json:"tokens_out"`
	Retries        int       `json:"retries"`
	CostUSD        float64   `json:"cost_usd,omitempty"`
	Requests       []Request `json:"requests,omitempty"`
	Checks         []Check   `json:"checks,omitempty"`
	FinalAnswer    string    `json:"final_answer,omitempty"`
	LastToolCall   string    `json:"last_tool_call,omitempty"`
	LastToolOutput string    `json:"last_tool_output,omitempty"`
	Transcript     string    `json:"transcript,omitempty"` // relative to the run folder
}

// BuiltinAgent is the name of goatbench's own agent loop in run.json.
const BuiltinAgent = "builtin"

// AgentName is the run's agent; runs that predate the field used the
// built-in loop.
func (m Manifest) AgentName() string {
	if m.Agent == "" {
		return BuiltinAgent
	}
	return m.Agent
}

// Cancelled reports an attempt that was stopped before it was judged: an
// error of class cancelled, which no pass rate counts and a resume runs again.
func (a Attempt) Cancelled() bool { return a.Status == StatusError && a.FailureClass == ClassCancelled }

// Key identifies an attempt within a run.
func (a Attempt) Key() string { return fmt.Sprintf("%s\x00%s\x00%d", a.Model, a.Task, a.Repeat) }

// ModelInfo describes one model of a run, as the manifest records it.
type ModelInfo struct {
	Name             string  `json:"name"` // the name shown in reports (route or key)
	Key              string  `json:"key,omitempty"`
	Kind             string  `json:"kind,omitempty"`
	BaseURL          string  `json:"base_url,omitempty"`
	ModelID          string  `json:"model_id,omitempty"` // what requests send as "model"
	GPU              string  `json:"gpu,omitempty"`
	PricePerHour     float64 `json:"price_per_hour,omitempty"`
	ColdStartSeconds float64 `json:"cold_start_s,omitempty"`
	HeldSeconds      float64 `json:"held_s,omitempty"`        // how long this run kept the model's GPUs busy
	SpecHash         string  `json:"spec_hash,omitempty"`     // the deployed spec that was benchmarked (Modal-served models)
	MaxModelLen      int     `json:"max_model_len,omitempty"` // the context the model was served with
	Error            string  `json:"error,omitempty"`
	// Sandbox is the remote sandbox time of the model's attempts and its cost.
	Sandbox *SandboxUsage `json:"sandbox,omitempty"`
}

// Manifest is run.json: what was run, with what, and when.
type Manifest struct {
	RunID     string      `json:"run_id"`
	Version   string      `json:"version"`
	Suite     string      `json:"suite"`
	SuiteHash string      `json:"suite_hash"`
	Tasks     []string    `json:"tasks"`
	Models    []ModelInfo `json:"models"`
	Repeat    int         `json:"repeat"`
	Parallel  int         `json:"parallel"`
	Sandbox   string      `json:"sandbox,omitempty"`
	// SandboxBinary is the bubblewrap executable used; SandboxWarning says
	// why commands ran unisolated when --sandbox auto found none that works.
	SandboxBinary  string     `json:"sandbox_binary,omitempty"`
	SandboxWarning string     `json:"sandbox_warning,omitempty"`
	Args           []string   `json:"args,omitempty"`
	Started        time.Time  `json:"started"`
	Ended          *time.Time `json:"ended,omitempty"`
	// Resumed lists when the run was resumed with `run --resume`.
	Resumed []time.Time `json:"resumed,omitempty"`
	// Tiers maps each task to its tier (fidelity, multi-step, code,
	// judgement), for reports that group tasks by tier.
	Tiers map[string]string `json:"tiers,omitempty"`
	// Agent names who made the attempts: "builtin" (goatbench's own loop),
	// an agent of goatbench.yaml, or an agent command; "" in runs made
	// before agents could be chosen, which all used the built-in loop.
	Agent string `json:"agent,omitempty"`
	// Shard is the share of the run's attempts this folder holds; nil is all.
	Shard *Shard `json:"shard,omitempty"`
	// MergedFrom lists the run IDs of the shards `goatbench merge` joined.
	MergedFrom []string `json:"merged_from,omitempty"`
}

// WriteManifest writes run.json atomically.
func WriteManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	// A new file, not whatever a folder from elsewhere holds at that name.
	if err := WriteInside(dir, ManifestFile+".tmp", append(b, '\n')); err != nil {
		return err
	}
	return os.Rename(filepath.Join(dir, ManifestFile+".tmp"), filepath.Join(dir, ManifestFile))
}

// ReadManifest reads run.json from a run folder. One that plans more
// attempts than a run holds (see CheckAttempts) is refused: resuming,
// reporting and merging all list its attempts first.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := ReadInside(dir, ManifestFile, MaxManifest)
	if err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if err := CheckAttempts(len(m.Tasks), len(m.Models), m.Repeat); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if sh := m.Shard; sh != nil && !sh.Whole() && (sh.Index < 1 || sh.Index > sh.Count) {
		return m, fmt.Errorf("%s: shard %s is not one of 1 to %d", filepath.Join(dir, ManifestFile), sh, sh.Count)
	}
	if m.Parallel < 0 {
		return m, fmt.Errorf("%s: parallel %d is below 0", filepath.Join(dir, ManifestFile), m.Parallel)
	}
	for i := range m.Models {
		mi := &m.Models[i]
		for _, v := range []*float64{&mi.PricePerHour, &mi.ColdStartSeconds, &mi.HeldSeconds} {
			boundFigure(v) // as an attempt's: priced, they would make +Inf dollars
		}
	}
	return m, nil
}

// MaxManifest is the largest run.json read: one of MaxAttempts models, each
// with its spec, is some tens of MiB.
const MaxManifest = 64 << 20

// MaxParallel is the most attempts in flight per model a run can ask for:
// more than any server serves at once, and each holds processes, files and
// a connection.
const MaxParallel = 1024

// MaxAttempts is the most attempts one run plans. A run lists every
// attempt before the first starts, and writes a line for each even when
// interrupted; past this (a nightly is hundreds) a mistyped --repeat would
// fill the machine's memory instead of running.
const MaxAttempts = 100_000

// CheckAttempts refuses a run of tasks × models × repeat attempts over
// MaxAttempts, or with a repeat count below 0, without overflowing.
func CheckAttempts(tasks, models, repeat int) error {
	switch {
	case repeat < 0:
		return fmt.Errorf("a repeat count below 0 (%d)", repeat)
	case repeat > MaxAttempts:
		return fmt.Errorf("--repeat must be at most %d, got %d", MaxAttempts, repeat)
	}
	over := tasks > 0 && models > MaxAttempts/tasks // before tasks × models can overflow
	if n := tasks * models; !over && n > 0 {
		over = repeat > MaxAttempts/n
	}
	if over {
		return fmt.Errorf("%s × %s × --repeat %d is over the %d attempts one run holds: use fewer repeats, tasks or models",
			count(tasks, "task"), count(models, "model"), repeat, MaxAttempts)
	}
	return nil
}

func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Writer appends attempts to results.jsonl, one synced line each, so a killed
// process leaves every finished attempt readable. Attempts that finish
// together share a sync (see Append): one fsync makes durable every line
// written before it began, so a line waits for at most the sync in progress
// and the next, not for one sync per line ahead of it.
//
// Only the Writer adds to its stream. The file is read-only (0444) while it
// is open, so a command running as the same user cannot simply append to it,
// and any bytes that appear in it all the same (a command that changed the
// mode back) are cut before the next line is written: a forged "pass" never
// counts. Run by root, commands in plain mode run as another uid and cannot
// open the file at all.
type Writer struct {
	mu      sync.Mutex // the stream's bytes: size, cut, written
	f       *os.File
	size    int64  // bytes the stream holds that this Writer wrote or found
	cut     int64  // foreign bytes removed
	written uint64 // lines written

	syncMu  sync.Mutex // one sync at a time: synced, syncErr
	synced  uint64     // lines a finished sync made durable
	syncErr error      // the first failed sync, for every line no earlier one covered
}

// OpenWriter opens (creating if needed) the results stream of a run folder for
// appending. A torn last line left by a killed process is cut off first, so
// that lines appended by a resumed run start on a line of their own.
func OpenWriter(dir string) (*Writer, error) {
	path := filepath.Join(dir, AttemptsFile)
	// Read-only while a Writer has it (see Writer); the last one left it so.
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
		if err := os.Chmod(path, 0o644); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := repairTail(path); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Not O_APPEND: each line is written where the Writer's own bytes end
	// (see write).
	f, err := openRegular(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil {
		err = f.Chmod(0o444)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{f: f, size: st.Size()}, nil
}

// repairTail makes the stream end with a newline: a last line without one is
// either a whole attempt (kept, newline added) or torn (truncated away).
func repairTail(path string) error {
	f, err := openRegular(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	size := st.Size()
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil // already ends on a line boundary
	}
	// Find the start of the last line by reading backwards in blocks; only
	// that line is read whole.
	start := size - 1
	buf := make([]byte, 32<<10)
	for start > 0 {
		n := min(int64(len(buf)), start)
		if _, err := f.ReadAt(buf[:n], start-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			start += int64(i) + 1 - n
			break
		}
		start -= n
	}
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil {
		return err
	}
	var a Attempt
	if json.Unmarshal(bytes.TrimSpace(tail), &a) == nil {
		_, err := f.WriteAt([]byte{'\n'}, size)
		return err
	}
	return f.Truncate(start)
}

// Append writes one attempt and returns once it is synced to disk.
func (w *Writer) Append(a Attempt) error {
	a.bound()
	b, err := lineOf(a)
	if err != nil {
		return err
	}
	line, err := w.write(append(b, '\n'))
	if err != nil {
		return err
	}
	return w.syncTo(line)
}

// lineOf is a's line. One of MaxLine or more, which every reader would
// refuse with the whole file, is shrunk to fit: its requests merged into a
// few records without their retry reasons, and its texts cut.
func lineOf(a Attempt) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil || len(b) < MaxLine {
		return b, err
	}
	a.Requests = slices.Clone(foldRequests(a.Requests, 16)) // the caller's stay as they were
	for i := range a.Requests {
		a.Requests[i].Retried = nil
		a.Requests[i].Error = cutText(a.Requests[i].Error, 200)
	}
	cut := func(s *string) { *s = cutText(*s, 200) }
	for _, s := range []*string{&a.Reason, &a.FinalAnswer, &a.LastToolCall, &a.LastToolOutput} {
		cut(s)
	}
	a.Checks = slices.Clone(a.Checks) // at most tasks.MaxChecks
	for i := range a.Checks {
		cut(&a.Checks[i].Name)
		cut(&a.Checks[i].Detail)
	}
	if b, err = json.Marshal(a); err == nil && len(b) >= MaxLine {
		err = fmt.Errorf("results: the attempt %s/%s is %d bytes even cut short, over the %d MiB of a line a reader takes", a.Model, a.Task, len(b), MaxLine>>20)
	}
	return b, err
}

// write adds one line to the stream, first cutting any bytes that appeared
// in it without the Writer, and returns the line's number. The line goes
// where the Writer's own bytes end, not at the file's end: bytes appended
// by someone else between the cut and the write are written over (and what
// is left of them cut by the next write), never kept before the line.
//
// A line that could not be written whole (a disk that filled midway) is cut
// off again: the next line appended to its first part would make one line
// no reader can parse, in the middle of the stream, and the whole run
// unreadable.
func (w *Writer) write(b []byte) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, err := w.f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() != w.size {
		if err := w.f.Truncate(w.size); err != nil {
			return 0, err
		}
		w.cut += st.Size() - w.size
	}
	if testHookWrite != nil {
		testHookWrite()
	}
	n, err := w.f.WriteAt(b, w.size)
	if err != nil {
		// Whatever part was written (WriteAt does not count the part of a
		// write that then failed). Should this fail too, the next write
		// starts at w.size all the same, and cuts what is left.
		_ = w.f.Truncate(w.size)
		return 0, err
	}
	w.size += int64(n)
	w.written++
	return w.written, nil
}

// testHookWrite, in tests, runs between the cut of foreign bytes and the
// write of a line.
var testHookWrite func()

// syncTo returns once line is durable. A sync that began after the line was
// written covers it: while one is in progress, the lines written meanwhile
// wait for the next, which then covers every one of them.
//
// A failed sync fails every Append after it whose line no earlier sync
// covered. Linux reports a writeback error once to each open file
// (errseq_t, since 4.13) and marks the pages that failed clean, never to be
// written again: a later sync that succeeds says nothing of the lines the
// failed one held, so none is called durable again.
func (w *Writer) syncTo(line uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.synced >= line {
		return nil // a sync that succeeded before any failed covers it
	}
	if w.syncErr != nil {
		return w.syncErr
	}
	w.mu.Lock()
	upto := w.written // every one of them written before the sync begins
	w.mu.Unlock()
	if err := syncFile(w.f); err != nil {
		w.syncErr = err
		return err
	}
	w.synced = upto
	return nil
}

// syncFile is (*os.File).Sync; tests replace it to watch or fail the syncs.
var syncFile = (*os.File).Sync

// Cut is the number of bytes that appeared in the stream without the Writer
// and were removed.
func (w *Writer) Cut() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cut
}

// Close closes the stream.
func (w *Writer) Close() error { return w.f.Close() }

// ErrNoRun is returned when a folder holds no results stream.
var ErrNoRun = errors.New("no results.jsonl")

// ReadAttempts reads every attempt of a run folder. A torn last line (a process
// killed mid-write) is skipped and reported in warnings; a broken line
// elsewhere is an error naming the line.
func ReadAttempts(dir string) (attempts []Attempt, warnings []string, err error) {
	path := filepath.Join(dir, AttemptsFile)
	f, err := OpenInside(dir, AttemptsFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: %w", dir, ErrNoRun)
		}
		return nil, nil, err
	}
	defer f.Close()
	return decode(f, path)
}

// Latest keeps the last line of each attempt (by Key), in the order attempts
// first appear. A resumed run appends a new line for an attempt it ran again,
// so every count of a run's attempts goes through Latest.
func Latest(attempts []Attempt) []Attempt {
	index := make(map[string]int, len(attempts))
	out := make([]Attempt, 0, len(attempts))
	for _, a := range attempts {
		k := a.Key()
		if i, ok := index[k]; ok {
			out[i] = a
			continue
		}
		index[k] = len(out)
		out = append(out, a)
	}
	return out
}

func decode(r io.Reader, path string) ([]Attempt, []string, error) {
	var (
		out      []Attempt
		warnings []string
	)
	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	for {
		b, err := readLine(br, MaxLine)
		if errors.Is(err, errLongLine) {
			return out, warnings, fmt.Errorf("%s:%d: a line over %d MiB, more than any attempt's", path, line+1, MaxLine>>20)
		}
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				return out, warnings, nil
			}
			return out, warnings, err
		}
		line++
		if line > MaxLines {
			return out, warnings, fmt.Errorf("%s: over %d lines, more than any run writes", path, MaxLines)
		}
		complete := err == nil
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var a Attempt
		if jerr := json.Unmarshal(b, &a); jerr != nil {
			if !complete {
				warnings = append(warnings, fmt.Sprintf("%s:%d: ignoring a torn last line", path, line))
				return out, warnings, nil
			}
			return out, warnings, fmt.Errorf("%s:%d: not an attempt result: %v", path, line, jerr)
		}
		switch a.Status {
		case StatusPass, StatusFail, StatusError, StatusTimeout:
		default:
			// Every count and format sorts attempts by status; one that is
			// none would be counted differently by each.
			return out, warnings, fmt.Errorf("%s:%d: status %q is not pass, fail, error or timeout", path, line, a.Status)
		}
		if a.Repeat < 0 {
			return out, warnings, fmt.Errorf("%s:%d: repeat %d is below 0", path, line, a.Repeat)
		}
		a.bound()
		out = append(out, a)
	}
}

// The most a results stream holds that a reader takes: an attempt's line
// is some kilobytes (its texts are cut to a few), and a run of MaxAttempts
// writes at most a few lines per attempt (a cancelled one, its resume's).
const (
	MaxLine  = 16 << 20
	MaxLines = 10 * MaxAttempts
)

var errLongLine = errors.New("line too long")

// readLine is the next line of br with its newline, as ReadBytes gives it,
// or errLongLine once it is longer than limit.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > limit {
			return nil, errLongLine
		}
		if err == nil && line == nil {
			return append([]byte(nil), frag...), nil
		}
		line = append(line, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// maxFigure bounds every figure of an attempt (seconds, dollars, tokens per
// second): a server's reply or a hand-edited line can say anything, and one
// that is not a finite number, or that sums to infinity with another, would
// make the line, or summary.json, impossible to write.
const maxFigure = 1e12

// bound makes every figure of the attempt a number from 0 to maxFigure, and
// every count one from 0 to maxCount: NaN, and what is below 0, is 0
// (unknown).
func (a *Attempt) bound() {
	b := boundFigure
	n := func(v *int) {
		*v = min(max(*v, 0), maxCount)
	}
	b(&a.WallSeconds)
	b(&a.CostUSD)
	for _, v := range []*int{&a.Turns, &a.ToolCalls, &a.ToolErrors, &a.TokensIn, &a.TokensOut, &a.Retries} {
		n(v)
	}
	bq := func(q *Request) {
		for _, v := range []*float64{&q.TTFT, &q.Total, &q.TokensPerSec, &q.RetryWait, &q.CostUSD} {
			b(v)
		}
		for _, v := range []*int{&q.TokensIn, &q.TokensOut, &q.Retries, &q.More} {
			n(v)
		}
	}
	for i := range a.Requests {
		bq(&a.Requests[i])
	}
	folded := foldRequests(a.Requests, MaxRequests)
	if len(folded) < len(a.Requests) { // merged: sums of what was bounded
		for i := range folded {
			bq(&folded[i])
		}
	}
	a.Requests = folded
}

// boundFigure makes *v a number from 0 to maxFigure: NaN, and what is below
// 0, is 0 (unknown).
func boundFigure(v *float64) {
	switch {
	case !(*v >= 0): // NaN too
		*v = 0
	case *v > maxFigure:
		*v = maxFigure
	}
}

// maxCount bounds every count of an attempt (tokens, turns, retries) as
// maxFigure bounds its figures: a negative one is 0, and summed over the most
// lines a results file may hold (MaxLines) none can wrap an int64 round.
const maxCount = 1 << 36
