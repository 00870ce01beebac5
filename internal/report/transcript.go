package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goatbench/goatbench/internal/results"
	"github.com/goatbench/goatbench/internal/safetext"
)

// Caps on what report.html shows of one transcript: the page stays small
// enough to open with many failures, and the full file is a click away.
const (
	transcriptMaxMessages = 80     // the first few and the last ones beyond this
	transcriptMaxText     = 4000   // runes of one message, tool call or output
	transcriptMaxTotal    = 120000 // runes of one transcript in all
)

// transcriptFile is the part of a transcript file (written by the runner:
// the chat messages as the OpenAI API carries them) the report shows.
// The field names are go-openai's ChatCompletionMessage JSON tags.
type transcriptFile struct {
	Messages []transcriptMessage `json:"messages"`
}

type transcriptMessage struct {
	Role      string `json:"role"`
	Content   string `json:"content"`
	Reasoning string `json:"reasoning_content"`
	Name      string `json:"name"`
	ToolCalls []struct {
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// htmlMessage is one step of the conversation as the page shows it.
type htmlMessage struct {
	Role    string // system, user, assistant, tool
	Summary string // one line, shown while collapsed
	Text    string // the content, capped
	Calls   []htmlToolCall
	Open    bool
}

type htmlToolCall struct {
	Name, Arguments string
}

// htmlTranscript reads an attempt's transcript for report.html. A missing
// or unreadable file gives no messages and a note saying why; it never
// fails the report.
func (r *Run) htmlTranscript(rel string) ([]htmlMessage, string) {
	if rel == "" || r.Dir == "" {
		return nil, ""
	}
	if filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
		return nil, "transcript path is outside the run folder"
	}
	b, err := results.ReadInside(r.Dir, rel, results.MaxTranscript)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, "transcript not found"
	case err != nil:
		return nil, "transcript unreadable: not a regular file of the run folder, or too large"
	}
	var tf transcriptFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, "transcript is not valid JSON"
	}
	msgs, note := tf.Messages, ""
	var skipped int
	if len(msgs) > transcriptMaxMessages {
		head := 4
		skipped = len(msgs) - transcriptMaxMessages
		msgs = append(append([]transcriptMessage{}, msgs[:head]...), msgs[head+skipped:]...)
	}
	var out []htmlMessage
	budget := transcriptMaxTotal
	for i, m := range msgs {
		if skipped > 0 && i == 4 {
			out = append(out, htmlMessage{Role: "…", Summary: fmt.Sprintf("%d messages left out; the transcript file has them all", skipped)})
		}
		// Every field is the model's or the agent's text (an agent sends
		// the messages the proxy records, roles included).
		hm := htmlMessage{Role: safetext.Line(m.Role)}
		text := m.Content
		if m.Reasoning != "" {
			text = "[reasoning]\n" + m.Reasoning + "\n[/reasoning]\n" + text
		}
		hm.Text = capText(safetext.Block(text), min(transcriptMaxText, budget))
		budget -= len([]rune(hm.Text))
		for _, c := range m.ToolCalls {
			args := capText(safetext.Block(c.Function.Arguments), min(transcriptMaxText, max(budget, 0)))
			budget -= len([]rune(args))
			hm.Calls = append(hm.Calls, htmlToolCall{Name: safetext.Line(c.Function.Name), Arguments: args})
		}
		switch {
		case len(hm.Calls) > 0:
			var names []string
			for _, c := range hm.Calls {
				names = append(names, c.Name)
			}
			hm.Summary = "calls " + strings.Join(names, ", ")
		case m.Role == "tool":
			hm.Summary = "output" + nameSuffix(m.Name) + ": " + oneLine(m.Content, 100)
		default:
			hm.Summary = oneLine(m.Content, 100)
		}
		out = append(out, hm)
		if budget <= 0 {
			note = "the rest is left out; the transcript file has it all"
			break
		}
	}
	if n := len(out); n > 0 {
		out[n-1].Open = true // the last step is usually where it went wrong
	}
	return out, note
}

func nameSuffix(name string) string {
	name = safetext.Line(name)
	if name == "" {
		return ""
	}
	return " of " + name
}

// capText keeps the first n runes of s, saying how much was cut.
func capText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:max(n, 0)]) + fmt.Sprintf("\n… (%d more characters in the transcript file)", len(r)-max(n, 0))
}
