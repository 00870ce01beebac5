package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"
	"github.com/stretchr/testify/require"

	"github.com/goatbench/goatbench/internal/results"
)

// The JUnit file is read back with go-junit, the parser behind several CI
// report tools, so what a consumer sees is what is asserted: every attempt a
// test, with the status, type and time it should have.
func TestJUnitAsAConsumerReadsIt(t *testing.T) {
	r := loadFixture(t, "run")
	var b bytes.Buffer
	require.NoError(t, r.JUnit(&b))

	suites, err := junit.Ingest(b.Bytes())
	require.NoError(t, err)
	require.Len(t, suites, len(r.Models()), "one testsuite per model")

	type verdict struct {
		status junit.Status
		typ    string
	}
	want := map[string]verdict{}
	wantTime := map[string]time.Duration{}
	for _, a := range r.Attempts {
		v := verdict{status: junit.StatusPassed}
		switch {
		case a.Status == results.StatusFail || a.Status == results.StatusTimeout:
			v = verdict{junit.StatusFailed, a.FailureClass}
		case a.Status == results.StatusError && a.FailureClass == results.ClassCancelled:
			v = verdict{status: junit.StatusSkipped}
		case a.Status == results.StatusError:
			v = verdict{junit.StatusError, a.FailureClass}
		}
		key := a.Model + "/" + r.attemptName(a)
		want[key] = v
		wantTime[key] = time.Duration(a.WallSeconds * float64(time.Second)).Round(time.Millisecond)
	}
	got := map[string]verdict{}
	var totals junit.Totals
	for _, s := range suites {
		totals.Tests += s.Totals.Tests
		totals.Failed += s.Totals.Failed
		totals.Error += s.Totals.Error
		totals.Skipped += s.Totals.Skipped
		for _, tc := range s.Tests {
			require.Equal(t, s.Name, tc.Classname, "classname is the model")
			key := tc.Classname + "/" + tc.Name
			v := verdict{status: tc.Status}
			if tc.Error != nil {
				je, ok := tc.Error.(junit.Error)
				require.True(t, ok)
				v.typ = je.Type
				require.NotEmpty(t, je.Body, "%s: failure text to act on", key)
			}
			got[key] = v
			require.Equal(t, wantTime[key], tc.Duration.Round(time.Millisecond), "%s: time in seconds", key)
		}
	}
	require.Equal(t, want, got)
	require.Equal(t, junit.Totals{Tests: 45, Failed: 6, Error: 1, Skipped: 2}, totals)

	// The suite's own counters agree with its test cases.
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(b.Bytes(), &doc))
	require.Equal(t, 45, doc.Tests)
	require.Equal(t, 6, doc.Failures)
	require.Equal(t, 1, doc.Errors)
	require.Equal(t, 2, doc.Skipped)
}

func TestJUnitSurvivesHostileOutput(t *testing.T) {
	a := att("m", "t", 0, results.StatusFail, 0, 1.5)
	a.Reason = "bad \x00 byte"
	a.LastToolOutput = "\x1b[31mred\x1b[0m ]]> <tag> & \"quotes\" \xff"
	r := New(results.Manifest{RunID: "r", Tasks: []string{"t"}, Repeat: 1}, []results.Attempt{a}, nil)
	var b bytes.Buffer
	require.NoError(t, r.JUnit(&b))

	// A strict XML reader accepts it...
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	// ...and the consumer still sees the text around what had to go.
	suites, err := junit.Ingest(b.Bytes())
	require.NoError(t, err)
	tc := suites[0].Tests[0]
	require.Equal(t, junit.StatusFailed, tc.Status)
	require.Contains(t, tc.Error.Error(), "]]> <tag> & \"quotes\"")
}
