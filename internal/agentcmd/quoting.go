package agentcmd

import (
	"fmt"
	"regexp"
	"strings"
)

// placeholderNames are the placeholders a command template may hold.
var placeholderNames = []string{"prompt_file", "answer_file", "prompt"}

// placeholderAt is the placeholder {name} that starts at s[i], or "".
func placeholderAt(s string, i int) string {
	for _, n := range placeholderNames {
		if strings.HasPrefix(s[i:], "{"+n+"}") {
			return n
		}
	}
	return ""
}

// shellScript ends the text before a word that a shell runs as its script:
// bash -c '…', sh -lc '…', bash -euo pipefail -c '…'.
var shellScript = regexp.MustCompile("(^|[\\s;&|(`])(\\S*/)?(bash|sh|dash|zsh|ksh)\\s[^'\"\n;&|]*-[A-Za-z]*c\\s+$")

// checkQuoting refuses a placeholder where the shell that runs the command
// would not expand it to the value: inside single quotes (or $'…', or a
// heredoc whose delimiter is quoted) it stays text, unless that text is a
// shell's script; after a backslash or a $ it is no placeholder the shell
// expands. It reads the shell's quoting as bash does, $(…), `…` and ${…}
// starting a context of their own, comments and heredocs included. What a
// script built in a string does with the value (bash -c "… {prompt}",
// python3 -c "…") is that script's: the value is its text there, and this
// cannot tell such a string from an argument (docker run -e "P={prompt}"),
// so it is left alone; the README says to read $GOATBENCH_PROMPT in a script.
func checkQuoting(command string) error {
	type ctx struct {
		quote byte // 0, '\'', '"', '$' ($'…'), ')' ($(…)), '`', '}' (${…})
		open  int  // where its quote opened
	}
	stack := []ctx{{}}
	type heredoc struct {
		delim  string
		quoted bool // its body stays text
		strip  bool // <<-: leading tabs go
	}
	var heredocs []heredoc
	top := func() *ctx { return &stack[len(stack)-1] }
	wordStart := func(i int) bool { return i == 0 || strings.ContainsRune(" \t\n;&|(", rune(command[i-1])) }
	for i := 0; i < len(command); i++ {
		ch := command[i]
		c := top()
		if ch == '{' {
			if name := placeholderAt(command, i); name != "" {
				if err := placeholderIn(command, name, c.quote, c.open); err != nil {
					return err
				}
			}
		}
		switch c.quote {
		case '\'':
			if ch == '\'' {
				stack = stack[:len(stack)-1]
			}
			continue
		case '$':
			switch ch {
			case '\\':
				i++
			case '\'':
				stack = stack[:len(stack)-1]
			}
			continue
		}
		switch {
		case ch == '\\':
			if name := placeholderAt(command, i+1); name != "" {
				return fmt.Errorf("{%s} after a backslash is no placeholder the shell expands: drop the backslash", name)
			}
			i++
		case c.quote == '"' && ch == '"':
			stack = stack[:len(stack)-1]
		case ch == '$' && i+1 < len(command) && command[i+1] == '{':
			if name := placeholderAt(command, i+1); name != "" {
				return fmt.Errorf("${%s}: write {%s}, without the $", name, name)
			}
			stack = append(stack, ctx{quote: '}', open: i})
			i++
		case ch == '$' && i+1 < len(command) && command[i+1] == '(':
			stack = append(stack, ctx{quote: ')', open: i})
			i++
		case ch == '$' && c.quote != '"' && i+1 < len(command) && command[i+1] == '\'':
			stack = append(stack, ctx{quote: '$', open: i})
			i++
		case ch == '`' && c.quote == '`':
			stack = stack[:len(stack)-1]
		case ch == '`':
			stack = append(stack, ctx{quote: '`', open: i})
		case c.quote == '"':
			// the rest is text inside double quotes
		case ch == ')' && c.quote == ')', ch == '}' && c.quote == '}':
			stack = stack[:len(stack)-1]
		case ch == '\'' || ch == '"':
			stack = append(stack, ctx{quote: ch, open: i})
		case ch == '#' && wordStart(i):
			for i+1 < len(command) && command[i+1] != '\n' {
				i++
			}
		case ch == '<' && strings.HasPrefix(command[i:], "<<") && !strings.HasPrefix(command[i:], "<<<"):
			j := i + 2
			strip := j < len(command) && command[j] == '-'
			if strip {
				j++
			}
			for j < len(command) && (command[j] == ' ' || command[j] == '\t') {
				j++
			}
			k := j
			for k < len(command) && !strings.ContainsRune(" \t\n;&|<>()", rune(command[k])) {
				k++
			}
			word := command[j:k]
			delim := strings.NewReplacer(`'`, "", `"`, "", `\`, "").Replace(word)
			heredocs = append(heredocs, heredoc{delim, delim != word, strip})
			i = k - 1
		case ch == '\n' && len(heredocs) > 0:
			// The bodies of the heredocs begun on this line follow it.
			for _, h := range heredocs {
				for i+1 < len(command) {
					end := strings.IndexByte(command[i+1:], '\n')
					if end < 0 {
						end = len(command) - i - 1
					}
					line := command[i+1 : i+1+end]
					if h.strip {
						line = strings.TrimLeft(line, "\t")
					}
					if line == h.delim {
						i += 1 + end
						break
					}
					if h.quoted {
						for p := strings.IndexByte(line, '{'); p >= 0; p = strings.IndexByte(line, '{') {
							if name := placeholderAt(line, p); name != "" {
								return fmt.Errorf("{%s} in a heredoc whose delimiter is quoted stays text: unquote the delimiter", name)
							}
							line = line[p+1:]
						}
					}
					i += 1 + end
				}
			}
			heredocs = nil
		}
	}
	return nil
}

// placeholderIn judges a placeholder found in the context quote, opened at
// command[open].
func placeholderIn(command string, name string, quote byte, open int) error {
	before := command[max(0, open-512):open] // what can name the shell; not all before it, which made long templates quadratic
	switch quote {
	case '\'':
		if shellScript.MatchString(before) {
			return nil // the inner shell expands it
		}
		return fmt.Errorf("{%s} inside single quotes reaches the agent as text, not its value: write it unquoted or inside double quotes", name)
	case '$':
		return fmt.Errorf("{%s} inside $'…' reaches the agent as text, not its value: write it unquoted or inside double quotes", name)
	}
	return nil
}
