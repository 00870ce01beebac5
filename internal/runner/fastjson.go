package runner

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// decodeReply fills w from one chat completion body or stream chunk. It reads
// only the fields wireReply has and skips the rest without building them,
// because a stream brings one small JSON document per token (tool-call
// arguments one character per delta from llama-server), and encoding/json's
// reflection over each one was most of a streamed request's CPU. Anything the
// fast path does not expect (a field of another type, bad JSON) falls back to
// encoding/json, which decides.
func decodeReply(data []byte, w *wireReply) error {
	s := scanner{b: data}
	if s.reply(w) && s.end() {
		return nil
	}
	*w = wireReply{}
	return json.Unmarshal(data, w)
}

// scanner walks JSON text; each method reports false on anything unexpected.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// rawString returns the bytes between the quotes and whether they need
// decoding (an escape, or bytes outside ASCII, which encoding/json checks as
// UTF-8); escapes are checked here, so a skipped string is valid JSON too.
func (s *scanner) rawString() ([]byte, bool, bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	slow := false
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '\\':
			slow = true
			j++
			if j >= len(s.b) {
				return nil, false, false
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[j+1 : j+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				j += 4
			default:
				return nil, false, false
			}
		case c == '"':
			s.i = j + 1
			return s.b[start:j], slow, true
		case c < 0x20:
			return nil, false, false
		case c >= 0x80:
			slow = true
		}
	}
	return nil, false, false
}

// str reads a string or null.
func (s *scanner) str(dst *string) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	start := s.i
	raw, esc, ok := s.rawString()
	if !ok {
		return false
	}
	if !esc {
		*dst = string(raw)
		return true
	}
	return json.Unmarshal(s.b[start:s.i], dst) == nil
}

// number reads a number's text (checked against JSON's grammar), or null as "".
func (s *scanner) number() ([]byte, bool) {
	if s.peek() == 'n' {
		return nil, s.lit("null")
	}
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return nil, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return nil, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *scanner) integer(dst *int) bool {
	t, ok := s.number()
	if !ok || t == nil {
		return ok
	}
	n, err := strconv.Atoi(string(t))
	*dst = n
	return err == nil
}

// tokens reads a token count as tokenCount's UnmarshalJSON does.
func (s *scanner) tokens(dst *tokenCount) bool {
	t, ok := s.number()
	if !ok || t == nil {
		return ok
	}
	*dst = countOf(string(t))
	return true
}

// skip passes over one value of any kind, checking it as it goes.
func (s *scanner) skip() bool {
	switch c := s.peek(); c {
	case '"':
		_, _, ok := s.rawString()
		return ok
	case '{':
		return s.object(func([]byte) bool { return s.skip() })
	case '[':
		return s.array(s.skip)
	case 't':
		return s.lit("true")
	case 'f':
		return s.lit("false")
	case 'n':
		return s.lit("null")
	default:
		t, ok := s.number()
		return ok && t != nil
	}
}

// object calls field for each key; null counts as an empty object. Keys are
// matched as encoding/json matches them, ignoring ASCII case; a key outside
// ASCII or given twice leaves the document to encoding/json.
func (s *scanner) object(field func(key []byte) bool) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	var seen [12][]byte
	n := 0
	for {
		key, slow, ok := s.rawString()
		if !ok || slow || s.peek() != ':' {
			return false
		}
		for _, k := range seen[:min(n, len(seen))] {
			if asciiFold(k, key) {
				return false
			}
		}
		if n < len(seen) {
			seen[n] = key
		}
		n++
		s.i++
		k := key
		for _, c := range key {
			if c >= 'A' && c <= 'Z' {
				k = bytes.ToLower(key) // rare: servers write these keys in lower case
				break
			}
		}
		if !field(k) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func asciiFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// array calls elem for each element; null counts as an empty array.
func (s *scanner) array(elem func() bool) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	if s.peek() != '[' {
		return false
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) reply(w *wireReply) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "choices":
			return s.array(func() bool {
				var ch wireChoice
				if !s.choice(&ch) {
					return false
				}
				w.Choices = append(w.Choices, ch)
				return true
			})
		case "usage":
			if s.peek() == 'n' {
				return s.lit("null")
			}
			w.Usage = &wireUsage{}
			return s.usage(w.Usage)
		case "error":
			start := s.i
			if !s.skip() {
				return false
			}
			w.Error = json.RawMessage(s.b[start:s.i])
			return true
		}
		return s.skip()
	})
}

func (s *scanner) choice(ch *wireChoice) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			return s.integer(&ch.Index)
		case "delta":
			return s.delta(&ch.Delta)
		case "message":
			return s.delta(&ch.Message)
		case "finish_reason":
			return s.str(&ch.FinishReason)
		}
		return s.skip()
	})
}

func (s *scanner) delta(d *wireDelta) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "content":
			return s.str(&d.Content)
		case "reasoning":
			return s.str(&d.Reasoning)
		case "reasoning_content":
			return s.str(&d.ReasoningContent)
		case "tool_calls":
			return s.array(func() bool {
				var tc wireToolCall
				if !s.toolCall(&tc) {
					return false
				}
				d.ToolCalls = append(d.ToolCalls, tc)
				return true
			})
		}
		return s.skip()
	})
}

func (s *scanner) toolCall(tc *wireToolCall) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			if s.peek() == 'n' {
				return s.lit("null")
			}
			n := 0
			if !s.integer(&n) {
				return false
			}
			tc.Index = &n
			return true
		case "id":
			return s.str(&tc.ID)
		case "type":
			return s.str(&tc.Type)
		case "function":
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "name":
					return s.str(&tc.Function.Name)
				case "arguments":
					return s.str(&tc.Function.Arguments)
				}
				return s.skip()
			})
		}
		return s.skip()
	})
}

func (s *scanner) usage(u *wireUsage) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "prompt_tokens":
			return s.tokens(&u.PromptTokens)
		case "completion_tokens":
			return s.tokens(&u.CompletionTokens)
		case "cost":
			t, ok := s.number()
			if !ok || t == nil {
				return ok
			}
			// A cost too large for a float64 is no cost: the reply stands.
			if c, err := strconv.ParseFloat(string(t), 64); err == nil && c >= 0 {
				u.Cost = &c
			}
			return true
		}
		return s.skip()
	})
}
