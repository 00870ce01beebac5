package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestWriteAndReadBack(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "t", Repeat: i, Status: StatusPass, WallSeconds: 1.5}))
	}
	require.NoError(t, w.Close())
	got, warnings, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Len(t, got, 3)
	require.Equal(t, 2, got[2].Repeat)
	require.Equal(t, 1.5, got[2].WallSeconds)
}

func TestTornLastLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	body := `{"run_id":"r","model":"m","task":"a","repeat":0,"status":"pass"}` + "\n" + `{"run_id":"r","model":"m","ta`
	require.NoError(t, os.WriteFile(filepath.Join(dir, AttemptsFile), []byte(body), 0o644))
	got, warnings, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "results.jsonl:2: ignoring a torn last line")
}

func TestBrokenLineInTheMiddleIsAnError(t *testing.T) {
	dir := t.TempDir()
	body := "{\"task\":\"a\",\"status\":\"pass\"}\nnot json\n{\"task\":\"b\",\"status\":\"pass\"}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, AttemptsFile), []byte(body), 0o644))
	_, _, err := ReadAttempts(dir)
	require.ErrorContains(t, err, "results.jsonl:2: not an attempt result")
}

func TestMissingRun(t *testing.T) {
	_, _, err := ReadAttempts(t.TempDir())
	require.ErrorIs(t, err, ErrNoRun)
	_, err = ReadManifest(t.TempDir())
	require.ErrorContains(t, err, "read manifest")
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := Manifest{RunID: "r", Suite: "smoke", Models: []ModelInfo{{Name: "m", PricePerHour: 1.1}}, Ended: &end}
	require.NoError(t, WriteManifest(dir, m))
	got, err := ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, m, got)
}

func TestLatestKeepsTheLastLinePerAttempt(t *testing.T) {
	in := []Attempt{
		{Model: "m", Task: "a", Repeat: 0, Status: StatusError},
		{Model: "m", Task: "b", Repeat: 0, Status: StatusPass},
		{Model: "m", Task: "a", Repeat: 1, Status: StatusFail},
		{Model: "m", Task: "a", Repeat: 0, Status: StatusPass},
	}
	got := Latest(in)
	require.Len(t, got, 3)
	require.Equal(t, "a", got[0].Task)
	require.Equal(t, StatusPass, got[0].Status, "the rerun replaces the error")
	require.Equal(t, "b", got[1].Task)
	require.Equal(t, 1, got[2].Repeat)
	require.Empty(t, Latest(nil))
}

func TestOpenWriterRepairsATornTail(t *testing.T) {
	whole := `{"run_id":"r","model":"m","task":"a","repeat":0,"status":"pass"}`
	for _, tc := range []struct {
		name, body string
		want       int // attempts readable after one more append
	}{
		{"torn last line is cut", whole + "\n" + `{"run_id":"r","mod`, 2},
		{"whole line without newline is kept", whole + "\n" + whole, 3},
		{"only a torn line", `{"run_id":"r","mod`, 1},
		{"clean", whole + "\n", 2},
		{"empty", "", 1},
		{"long torn line", whole + "\n" + `{"final_answer":"` + strings.Repeat("x", 100<<10), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, AttemptsFile), []byte(tc.body), 0o644))
			w, err := OpenWriter(dir)
			require.NoError(t, err)
			require.NoError(t, w.Append(Attempt{Model: "m", Task: "z", Status: StatusPass}))
			require.NoError(t, w.Close())
			got, warnings, err := ReadAttempts(dir)
			require.NoError(t, err)
			require.Empty(t, warnings)
			require.Len(t, got, tc.want)
			require.Equal(t, "z", got[len(got)-1].Task)
		})
	}
}

// A run's size is checked without overflowing: a product that wraps around
// to a small or negative number is still refused.
func TestCheckAttempts(t *testing.T) {
	require.NoError(t, CheckAttempts(5, 6, 3))
	require.NoError(t, CheckAttempts(5, 1, 20_000))
	require.NoError(t, CheckAttempts(0, 0, MaxAttempts))
	for _, c := range [][3]int{
		{5, 1, 20_001},
		{5, 1, 3689348814741910324}, // 5 × it wraps around to 4
		{1 << 40, 1 << 40, 1},       // tasks × models wraps around
		{1, 1, -3},
		{1, 1, MaxAttempts + 1},
	} {
		require.Error(t, CheckAttempts(c[0], c[1], c[2]), "%v", c)
	}
	require.EqualError(t, CheckAttempts(5, 1, 30_000), "5 tasks × 1 model × --repeat 30000 is over the 100000 attempts one run holds: use fewer repeats, tasks or models")
}

// run.json is checked as it is read, so resume, report and merge refuse a
// folder whose repeat count was edited past what a run holds.
func TestReadManifestRefusesARunTooBigToList(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteManifest(dir, Manifest{RunID: "r", Tasks: []string{"a", "b"}, Models: []ModelInfo{{Name: "m"}}, Repeat: 1 << 62}))
	_, err := ReadManifest(dir)
	require.ErrorContains(t, err, "run.json: --repeat must be at most 100000")
}

// A run.json whose shard or parallelism no run can have is refused as it is
// read: a shard 3 of 2 made every reader of the folder panic. (A parallelism
// over --parallel's limit, which older runs could record, is read, and a
// resume lowers it to the limit.)
func TestReadManifestRefusesAShardOrParallelismNoRunHas(t *testing.T) {
	for _, tc := range []struct {
		m    Manifest
		want string
	}{
		{Manifest{Shard: &Shard{Index: 3, Count: 2}}, "shard 3/2 is not one of 1 to 2"},
		{Manifest{Shard: &Shard{Index: 0, Count: 2}}, "shard 0/2 is not one of 1 to 2"},
		{Manifest{Shard: &Shard{Index: -1, Count: 5}}, "shard -1/5 is not one of 1 to 5"},
		{Manifest{Parallel: -4}, "parallel -4 is below 0"},
	} {
		dir := t.TempDir()
		tc.m.RunID, tc.m.Tasks, tc.m.Models, tc.m.Repeat = "r", []string{"a", "b", "c"}, []ModelInfo{{Name: "m"}}, 1
		require.NoError(t, WriteManifest(dir, tc.m))
		_, err := ReadManifest(dir)
		require.ErrorContains(t, err, tc.want)
	}
	dir := t.TempDir()
	require.NoError(t, WriteManifest(dir, Manifest{RunID: "r", Tasks: []string{"a"}, Models: []ModelInfo{{Name: "m"}}, Repeat: 1,
		Shard: &Shard{Index: 2, Count: 2}, Parallel: 4}))
	_, err := ReadManifest(dir)
	require.NoError(t, err)
}

// Figures no report can sum or write (NaN, a negative time, a cost near
// the float64 limit) are bounded as a line is written and as it is read.
func TestFiguresAreBounded(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	nan := math.NaN()
	require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "t", Status: StatusPass, WallSeconds: -3, CostUSD: nan,
		Requests: []Request{{TTFT: math.Inf(1), Total: 2, TokensPerSec: nan, CostUSD: 1e308}}}))
	require.NoError(t, w.Close())
	f, err := os.OpenFile(filepath.Join(dir, AttemptsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil { // the writer leaves results.jsonl read-only
		require.NoError(t, os.Chmod(filepath.Join(dir, AttemptsFile), 0o644))
		f, err = os.OpenFile(filepath.Join(dir, AttemptsFile), os.O_WRONLY|os.O_APPEND, 0)
	}
	require.NoError(t, err)
	_, err = f.WriteString(`{"run_id":"r","model":"m","task":"t","repeat":1,"status":"pass","wall_s":1e308,"cost_usd":1e308}` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, _, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Zero(t, got[0].WallSeconds)
	require.Zero(t, got[0].CostUSD)
	q := got[0].Requests[0]
	require.Equal(t, maxFigure, q.TTFT)
	require.Zero(t, q.TokensPerSec)
	require.Equal(t, maxFigure, q.CostUSD)
	require.Equal(t, 2.0, q.Total)
	require.Equal(t, maxFigure, got[1].WallSeconds)
	require.Equal(t, maxFigure, got[1].CostUSD)
}

// Counts are bounded as figures are: a negative one (a server's tally, a
// hand-edited line) is 0, and a huge one cannot wrap a run's totals round
// when summed over every line a results file may hold.
func TestCountsAreBounded(t *testing.T) {
	a := Attempt{Turns: -3, ToolCalls: math.MaxInt64, ToolErrors: -1, TokensIn: math.MinInt64, TokensOut: 5, Retries: math.MaxInt64,
		Requests: []Request{{TokensIn: -9, TokensOut: math.MaxInt64, Retries: -2}}}
	a.bound()
	require.Equal(t, []int{0, maxCount, 0, 0, 5, maxCount}, []int{a.Turns, a.ToolCalls, a.ToolErrors, a.TokensIn, a.TokensOut, a.Retries})
	require.Equal(t, []int{0, maxCount, 0}, []int{a.Requests[0].TokensIn, a.Requests[0].TokensOut, a.Requests[0].Retries})
	require.Less(t, float64(maxCount)*MaxLines, float64(math.MaxInt64))
}

// run.json's figures are bounded as an attempt's are: a price or time of
// 1e308 made +Inf dollars, which no JSON report can write, and a negative
// cold start read as a time.
func TestManifestFiguresAreBounded(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"run_id":"r","tasks":["a"],"repeat":1,`+
		`"models":[{"name":"m","price_per_hour":1e308,"held_s":1e308,"cold_start_s":-7}]}`), 0o644))
	m, err := ReadManifest(dir)
	require.NoError(t, err)
	require.Equal(t, maxFigure, m.Models[0].PricePerHour)
	require.Equal(t, maxFigure, m.Models[0].HeldSeconds)
	require.Zero(t, m.Models[0].ColdStartSeconds)
}

// A run folder's file that cannot be opened is named with its folder: a
// history of hundreds of runs said only "openat run.json: path escapes
// from parent".
func TestAnUnreadableRunFileNamesItsFolder(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, ManifestFile)))
	_, err := ReadManifest(dir)
	require.ErrorContains(t, err, filepath.Join(dir, ManifestFile)+": path escapes from parent")
}

// BenchmarkRepairTail repairs a results.jsonl whose last line is a torn
// line of 20 MB: reading it back once, not once per block.
//
//	go test ./internal/results -run '^$' -bench RepairTail -benchtime 3x
func BenchmarkRepairTail(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, AttemptsFile)
	torn := append([]byte(`{"run_id":"r","model":"m","task":"t","status":"pass"}`+"\n"+`{"final_answer":"`), bytes.Repeat([]byte("x"), 20<<20)...)
	for b.Loop() {
		b.StopTimer()
		require.NoError(b, os.WriteFile(path, torn, 0o644))
		b.StartTimer()
		require.NoError(b, repairTail(path))
	}
	st, err := os.Stat(path)
	require.NoError(b, err)
	require.Less(b, st.Size(), int64(100), "the torn line is cut")
}

// A line whose status is none of the four is refused: each count and format
// would count it differently ("PASS" was an error in one, a failure in
// another), and "not_run" is the reports' own mark, which no line holds.
func TestAnUnknownStatusIsRefused(t *testing.T) {
	for _, st := range []string{"PASS", "not_run", ""} {
		dir := t.TempDir()
		body := `{"task":"a","status":"pass"}` + "\n" + `{"task":"b","status":"` + st + `"}` + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, AttemptsFile), []byte(body), 0o644))
		_, _, err := ReadAttempts(dir)
		require.ErrorContains(t, err, `results.jsonl:2: status "`+st+`" is not pass, fail, error or timeout`)
	}
}

// A line of a negative repeat is refused: no run writes one, and the
// reports counted it as an attempt beyond those run.json planned.
func TestANegativeRepeatIsRefused(t *testing.T) {
	dir := t.TempDir()
	body := `{"task":"a","status":"pass","repeat":0}` + "\n" + `{"task":"a","status":"pass","repeat":-1}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, AttemptsFile), []byte(body), 0o644))
	_, _, err := ReadAttempts(dir)
	require.ErrorContains(t, err, "results.jsonl:2: repeat -1 is below 0")
}

// An attempt of more requests than a line lists keeps at most MaxRequests
// records, each standing for an equal run of them: before, a hostile
// agent's flood of refused requests made a line past MaxLine, and every
// reader refused the whole run.
func TestAnAttemptOfCountlessRequestsStaysReadable(t *testing.T) {
	const n = 10_000
	why := strings.Repeat("<", 100) // JSON writes each as \u003c
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{TTFT: 0.1, Total: 0.001, TokensIn: 2, TokensOut: 1, Retries: 1, RetryWait: 0.5, CostUSD: 0.25,
			Error: why, Retried: []string{why, why, why, why, why, why}}
		if i >= n/2 {
			reqs[i].TTFT = 2 // a long attempt's later requests, on a longer context
		}
	}
	reqs[n-1].Error = "the last one's"
	raw, err := json.Marshal(Attempt{Requests: reqs})
	require.NoError(t, err)
	require.Greater(t, len(raw), MaxLine, "the whole list must be a line no reader takes")

	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "a", Status: StatusFail, Requests: reqs}))
	require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "b", Status: StatusPass}))
	require.NoError(t, w.Close())
	require.Len(t, reqs, n)
	require.Equal(t, why, reqs[MaxRequests-1].Error, "the caller's records are left as they were")
	require.Zero(t, reqs[0].More)

	got, warnings, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Len(t, got, 2)
	listed := got[0].Requests
	require.LessOrEqual(t, len(listed), MaxRequests)
	require.Greater(t, len(listed), MaxRequests/2)
	require.Equal(t, "the last one's", listed[len(listed)-1].Error)
	sum, late := Request{}, 0
	for i, q := range listed {
		if i < len(listed)-1 {
			require.Equal(t, listed[0].More, q.More, "record %d stands for as many requests as the first", i)
		}
		sum.More += 1 + q.More
		sum.TokensIn += q.TokensIn
		sum.TokensOut += q.TokensOut
		sum.Retries += q.Retries
		sum.CostUSD += q.CostUSD
		sum.Total += q.Total
		if q.TTFT == 2 {
			late++
		}
	}
	require.Equal(t, []int{n, 2 * n, n, n}, []int{sum.More, sum.TokensIn, sum.TokensOut, sum.Retries})
	require.InDelta(t, 0.25*n, sum.CostUSD, 1e-6)
	require.InDelta(t, 0.001*n, sum.Total, 1e-6)
	require.InDelta(t, len(listed)/2, late, 2, "the records sample the whole attempt, not its first requests")
}

// A request's texts are bounded however long what it was given: a relayed
// agent chose them.
func TestARequestsTextsAreBounded(t *testing.T) {
	long := strings.Repeat("é", 1<<20)
	a := Attempt{Requests: []Request{{Error: long, Retried: []string{long, long, long, long, long, long, long, long, long, long}}}}
	a.bound()
	q := a.Requests[0]
	require.LessOrEqual(t, len(q.Error), maxRequestText)
	require.True(t, utf8.ValidString(q.Error), "cut at a character")
	require.Len(t, q.Retried, maxRetried)
	for _, r := range q.Retried {
		require.LessOrEqual(t, len(r), maxRequestText)
	}
}

// A line no reader would take is shrunk to one it takes, never refused:
// refused, it was the run's write failure, and stopped every attempt.
func TestALineOverTheLimitIsShrunk(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "a", Status: StatusPass}))
	big := strings.Repeat("<", MaxLine/4)
	require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "b", Status: StatusFail, Reason: big, FinalAnswer: big,
		Checks: []Check{{Name: "c", Detail: big}}}))
	require.NoError(t, w.Close())
	got, _, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, StatusFail, got[1].Status)
	require.Less(t, len(got[1].Checks[0].Detail), 2000)
	require.Less(t, len(got[1].Reason), 2000)
}

// However requests come, their records keep AddRequest's promises: at most
// so many, every request counted once, each record but the last standing for
// as many as the first, and the last ending as the last request did.
func TestAddRequestKeepsItsPromises(t *testing.T) {
	for _, most := range []int{2, 3, 5, 16} {
		for n := 0; n <= 200; n++ {
			var reqs []Request
			for i := range n {
				reqs = addRequest(reqs, Request{TokensIn: 1, Error: fmt.Sprint(i)}, most)
			}
			require.LessOrEqual(t, len(reqs), most, "most %d, n %d", most, n)
			total := 0
			for i, q := range reqs {
				total += 1 + q.More
				require.Equal(t, 1+q.More, q.TokensIn, "most %d, n %d: a record sums what it stands for", most, n)
				if i < len(reqs)-1 {
					require.Equal(t, reqs[0].More, q.More, "most %d, n %d, record %d", most, n, i)
				} else {
					require.LessOrEqual(t, q.More, reqs[0].More)
				}
			}
			require.Equal(t, n, total, "most %d", most)
			if n > 0 {
				require.Equal(t, fmt.Sprint(n-1), reqs[len(reqs)-1].Error)
			}
		}
	}
}

// A merged record's time to first token is its first streamed request's: an
// agent's refused requests (no TTFT) between its streamed ones left none.
func TestMergedRecordsKeepTheirTTFT(t *testing.T) {
	var reqs []Request
	for i := range 1000 {
		r := Request{Error: "HTTP 429: slow down"}
		if i%2 == 1 {
			r = Request{TTFT: 0.5, Stream: true}
		}
		reqs = AddRequest(reqs, r)
	}
	with := 0
	for _, q := range reqs {
		if q.TTFT > 0 {
			with++
		}
	}
	require.Equal(t, len(reqs), with, "every record stands for a streamed request too")
}

// The biggest attempt a run can make (every text at its cut, as many checks
// as a task may have, each named by a long pattern that JSON writes six
// times over) still makes a line a reader takes.
func TestTheBiggestAttemptFitsALine(t *testing.T) {
	long := strings.Repeat("<", 4000)
	checks := make([]Check, 1000) // tasks.MaxChecks
	for i := range checks {
		checks[i] = Check{Name: "answer contains " + long, Detail: long}
	}
	var reqs []Request
	for range 5000 {
		reqs = AddRequest(reqs, Request{Error: long, Retried: []string{long, long, long, long, long, long, long, long}})
	}
	dir := t.TempDir()
	w, err := OpenWriter(dir)
	require.NoError(t, err)
	require.NoError(t, w.Append(Attempt{RunID: "r", Model: "m", Task: "a", Status: StatusFail, Reason: long, FinalAnswer: long,
		LastToolCall: long, LastToolOutput: long, Checks: checks, Requests: reqs}))
	require.NoError(t, w.Close())
	got, _, err := ReadAttempts(dir)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, got[0].Checks, 1000)
}
