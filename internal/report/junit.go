package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/goatbench/goatbench/internal/results"

	"github.com/goatbench/goatbench/internal/safetext"
)

// The JUnit XML shapes, following the Ant/Jenkins schema CI systems read.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []junitProperty `xml:"properties>property,omitempty"`
		Cases      []junitCase     `xml:"testcase"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitProblem `xml:"skipped,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitProblem struct {
		Type    string `xml:"type,attr,omitempty"`
		Message string `xml:"message,attr,omitempty"`
		Body    string `xml:",cdata"`
	}
)

// JUnit writes junit.xml: one testsuite per model, one testcase per task and
// repeat. Fails and timeouts are failures typed by their failure class,
// infrastructure errors are errors, and attempts not run are skipped.
func (r *Run) JUnit(w io.Writer) error {
	doc := junitSuites{Name: "goatbench"}
	if r.Manifest.Suite != "" {
		doc.Name += " " + r.Manifest.Suite
	}
	var total float64
	for _, m := range r.models {
		suite, secs := r.junitSuite(m)
		doc.Suites = append(doc.Suites, suite)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		total += secs
	}
	doc.Time = seconds3(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (r *Run) junitSuite(m ModelSummary) (junitSuite, float64) {
	s := junitSuite{Name: xmlSafe(m.Model)}
	if !r.Manifest.Started.IsZero() {
		// The schema's timestamp has no zone; run times are UTC.
		s.Timestamp = r.Manifest.Started.UTC().Format("2006-01-02T15:04:05")
	}
	info, _ := r.modelInfo(m.Model)
	for _, p := range []junitProperty{
		{"kind", info.Kind}, {"gpu", info.GPU}, {"model_id", info.ModelID},
		{"cold_start_s", floatProp(info.ColdStartSeconds)}, {"price_per_hour", floatProp(info.PricePerHour)},
		{"error", info.Error},
		{"sandbox_binary", r.Manifest.SandboxBinary}, {"sandbox_warning", xmlSafe(r.Manifest.SandboxWarning)},
	} {
		if p.Value != "" {
			s.Properties = append(s.Properties, p)
		}
	}
	var sum float64
	for _, t := range r.tasks {
		c := r.cell(m.Model, t)
		if c == nil {
			continue
		}
		for _, a := range c.Attempts {
			tc := junitCase{Name: xmlSafe(r.attemptName(a)), Classname: xmlSafe(a.Model), Time: seconds3(a.WallSeconds)}
			if a.Transcript != "" {
				tc.SystemOut = xmlSafe("transcript: " + a.Transcript)
			}
			switch {
			case a.Status == results.StatusPass:
			case notRun(a):
				tc.Skipped = &junitProblem{Message: xmlSafe(oneLine("not run: "+a.Reason, 300))}
				s.Skipped++
			case a.Status == results.StatusError:
				tc.Error = problemOf(a)
				s.Errors++
			default:
				tc.Failure = problemOf(a)
				s.Failures++
			}
			s.Tests++
			sum += a.WallSeconds
			s.Cases = append(s.Cases, tc)
		}
	}
	s.Time = seconds3(sum)
	return s, sum
}

func problemOf(a results.Attempt) *junitProblem {
	typ := a.FailureClass
	if typ == "" {
		typ = string(a.Status)
	}
	var b strings.Builder
	if a.Reason != "" {
		b.WriteString(a.Reason + "\n")
	}
	for _, c := range a.Checks {
		if !c.Pass {
			fmt.Fprintf(&b, "check %s failed: %s\n", c.Name, c.Detail)
		}
	}
	if a.LastToolCall != "" {
		fmt.Fprintf(&b, "last tool call: %s\n", a.LastToolCall)
	}
	if a.LastToolOutput != "" {
		fmt.Fprintf(&b, "last tool output:\n%s\n", tail(a.LastToolOutput, 2000))
	}
	if a.Transcript != "" {
		fmt.Fprintf(&b, "transcript: %s\n", a.Transcript)
	}
	return &junitProblem{Type: xmlSafe(typ), Message: xmlSafe(oneLine(a.Reason, 300)), Body: xmlSafe(b.String())}
}

// xmlSafe makes text fit XML 1.0, which no escaping can do for NUL, ANSI
// escapes and the other control characters of tool output: safetext writes
// those out visibly (and bytes that are not UTF-8), leaving newlines and
// tabs; XML still refuses the two noncharacters U+FFFE and U+FFFF.
func xmlSafe(s string) string { return xmlNonChars.Replace(safetext.Block(s)) }

var xmlNonChars = strings.NewReplacer("\uFFFE", "\uFFFD", "\uFFFF", "\uFFFD")

func seconds3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

func floatProp(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
