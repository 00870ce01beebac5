package runner

import (
	"encoding/json"

	"github.com/goatbench/goatbench/internal/redact"
	"github.com/goatbench/goatbench/internal/results"
)

// redacted returns a with every secret value replaced in every text field
// (reason, final answer, check details, the last tool call and output), so
// results.jsonl, the reports built from it and the progress lines hold none.
// Going through JSON catches fields added later too.
func redacted(a results.Attempt) results.Attempt {
	b, err := json.Marshal(a)
	if err == nil {
		var out results.Attempt
		if err = json.Unmarshal(redact.Bytes(b), &out); err == nil {
			return out
		}
	}
	// A secret whose raw text spans JSON syntax: redact field by field.
	r := redact.Current()
	a.Reason, a.FinalAnswer = r.String(a.Reason), r.String(a.FinalAnswer)
	a.LastToolCall, a.LastToolOutput = r.String(a.LastToolCall), r.String(a.LastToolOutput)
	a.Checks = append([]results.Check(nil), a.Checks...)
	for i := range a.Checks {
		a.Checks[i].Detail = r.String(a.Checks[i].Detail)
	}
	return a
}
