// Package redact keeps secret values out of what goatbench writes and sends:
// tool output shown to a model, transcripts, results, logs and reports. The
// secrets are the values of goatbench's own environment variables that name
// a credential, and any value registered at run time (an --api-key flag).
package redact

import (
	"encoding/json"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// MinLength is the shortest value treated as a secret: shorter ones would
// match ordinary text ("1", "true") and no real credential is that short.
const MinLength = 6

// named are the secrets goatbench is known to run with; any variable whose
// name ends in _KEY, _TOKEN or _SECRET counts too.
var named = map[string]bool{
	"OPENAI_API_KEY":     true,
	"LITELLM_MASTER_KEY": true,
	"MODAL_TOKEN_ID":     true,
	"MODAL_TOKEN_SECRET": true,
	// The id half of a Modal proxy auth token (README: export MODAL_PROXY_TOKEN_ID),
	// a secret as MODAL_TOKEN_ID is, but not named like one.
	"MODAL_PROXY_TOKEN_ID": true,
	"HF_TOKEN":             true,
}

// IsSecretName reports whether an environment variable holds a secret.
func IsSecretName(name string) bool {
	name = strings.ToUpper(name)
	return named[name] || strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "_TOKEN") || strings.HasSuffix(name, "_SECRET")
}

// Redactor replaces secret values with [REDACTED:NAME].
type Redactor struct {
	r   *strings.Replacer
	key string // the secrets it was built from, to tell when to rebuild
}

// New returns a Redactor for secrets, a map from a name (shown in the
// placeholder) to its value. Values shorter than MinLength are ignored.
func New(secrets map[string]string) *Redactor {
	type secret struct{ name, value string }
	var list []secret
	for name, v := range secrets {
		if len(v) >= MinLength {
			list = append(list, secret{name, v})
		}
	}
	// Longest first, so a secret that contains another is replaced whole;
	// then by name, so equal values always show the same name.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].value) != len(list[j].value) {
			return len(list[i].value) > len(list[j].value)
		}
		return list[i].name < list[j].name
	})
	var pairs []string
	var key strings.Builder
	seen := map[string]bool{}
	for _, s := range list {
		key.WriteString(s.name + "\x00" + s.value + "\x00")
		mark := "[REDACTED:" + s.name + "]"
		// The value as written in JSON too (transcripts, results): quotes,
		// backslashes, control characters and <>& are escaped there.
		for _, form := range []string{s.value, jsonForm(s.value)} {
			if !seen[form] {
				seen[form] = true
				pairs = append(pairs, form, mark)
			}
		}
	}
	return &Redactor{r: strings.NewReplacer(pairs...), key: key.String()}
}

func jsonForm(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b[1 : len(b)-1])
}

// FromEnviron returns a Redactor for the secrets in an environment
// ("NAME=value" entries, as os.Environ returns) plus extra.
func FromEnviron(environ []string, extra map[string]string) *Redactor {
	secrets := map[string]string{}
	for _, kv := range environ {
		if name, v, ok := strings.Cut(kv, "="); ok && IsSecretName(name) {
			secrets[name] = v
		}
	}
	for name, v := range extra {
		secrets[name] = v
	}
	return New(secrets)
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string { return r.r.Replace(s) }

// Bytes returns b with every secret replaced.
func (r *Redactor) Bytes(b []byte) []byte { return []byte(r.r.Replace(string(b))) }

var (
	mu         sync.Mutex
	registered = map[string]string{}
	current    *Redactor
)

// Register adds a secret that is not in the environment, such as a key given
// as a flag; name is what the placeholder shows.
func Register(name, value string) {
	mu.Lock()
	defer mu.Unlock()
	registered[name] = value
}

// Current is the Redactor for this process: its environment as it is now
// and every registered secret.
func Current() *Redactor {
	mu.Lock()
	defer mu.Unlock()
	r := FromEnviron(os.Environ(), registered)
	if current != nil && current.key == r.key {
		return current // keep the replacer that has already been built
	}
	current = r
	return r
}

// String replaces every secret of this process in s.
func String(s string) string { return Current().String(s) }

// Bytes replaces every secret of this process in b.
func Bytes(b []byte) []byte { return Current().Bytes(b) }

// Writer returns a writer that redacts every secret of this process from
// each Write before passing it on. A secret split across two writes is not
// caught: it is for line-oriented output such as logs.
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

// Unwrap returns the writer underneath, so a caller can still tell whether
// output goes to a terminal.
func (w writer) Unwrap() io.Writer { return w.w }

func (w writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
