// Package safetext makes text that a model, a task or a server controls safe
// to show a person: on a terminal, in report.md and report.html. Control
// characters (ANSI escape sequences, carriage returns, backspaces, the C1
// controls some terminals obey, bidirectional overrides that reorder what is
// shown) are written out as visible escapes, so a failing attempt cannot
// print a green PASS over itself. Bytes that are not UTF-8 become \xNN. The
// escapes are plain text: the result is idempotent. JSON and JSONL files keep
// the exact text; their encoder escapes it.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line escapes every control character, newlines and tabs included, for text
// that must stay on one line (a progress line, a table cell).
func Line(s string) string { return escape(s, false) }

// Block escapes every control character but newline and tab, for multi-line
// text shown as such (tool output in a code block).
func Block(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	if clean(s, keepLines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafe is a non-ASCII rune that controls how text is shown: C1 controls
// (U+009B is a one-byte CSI to some terminals), bidirectional marks,
// embeddings, overrides and isolates, and the Unicode line separators.
func unsafe(r rune) bool {
	switch {
	case r >= 0x80 && r < 0xa0,
		r == 0x061c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// clean is the fast path: most text has nothing to escape.
func clean(s string, keepLines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return !strings.ContainsFunc(s[i:], func(r rune) bool { return r == utf8.RuneError || r < 0x20 || r == 0x7f || unsafe(r) }) && utf8.ValidString(s[i:])
		case c == 0x7f:
			return false
		case c < 0x20 && !(keepLines && (c == '\n' || c == '\t')):
			return false
		}
	}
	return true
}
