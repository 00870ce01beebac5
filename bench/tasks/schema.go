package tasks

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goatbench/goatbench/internal/didyoumean"

	"go.yaml.in/yaml/v3"
)

// The tiers of the core suite, easiest to judge first. A task without a tier
// (the smoke suite's) is shown as untiered.
const (
	TierFidelity  = "fidelity"   // exact writes and reads of content parsers break
	TierMultiStep = "multi-step" // several tools and turns towards one result
	TierCode      = "code"       // change code until given tests pass
	TierJudgement = "judgement"  // refuse, read first, resist injection, admit the impossible
)

// Tiers lists the known tiers in report order.
var Tiers = []string{TierFidelity, TierMultiStep, TierCode, TierJudgement}

// Solution is a scripted attempt: tool-call steps, then the final answer. A
// task's wrong solutions are plausible mistakes that its checks must catch.
type Solution struct {
	Name  string `yaml:"name"`
	Steps []Step `yaml:"steps"`
}

// Tools returns the solution's tool-call steps, and Answer its final answer.
func (s Solution) Tools() []Step { return s.Steps[:len(s.Steps)-1] }

// Answer is the text of the solution's last step.
func (s Solution) Answer() string { return s.Steps[len(s.Steps)-1].Answer }

var (
	durationType = reflect.TypeFor[time.Duration]()
	argsType     = reflect.TypeFor[map[string]any]()
)

// lint walks a task file's YAML against the Task type before it is decoded,
// so a mistake is told in the file's own terms ("answer_containz: unknown
// field (did you mean answer_contains?)") and never in Go's.
func lint(file string, root *yaml.Node) error {
	return lintNode(file, root, reflect.TypeFor[Task](), "", map[*yaml.Node]bool{})
}

func lintNode(file string, n *yaml.Node, t reflect.Type, field string, seen map[*yaml.Node]bool) error {
	// An alias is checked once where it is defined: walking every use again
	// would let a small file of nested aliases cost exponential time.
	if n.Kind == yaml.AliasNode {
		if seen[n.Alias] {
			return nil
		}
		seen[n.Alias] = true
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", file, n.Line, field, fmt.Sprintf(format, a...))
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == argsType:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping of argument names to values, not %s", describe(n))
		}
		return nil
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return bad("must be a duration such as 90s or 5m, not %s", describe(n))
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			if wellFormed.MatchString(n.Value) {
				return bad("%q is too long for a duration (at most %s)", n.Value, time.Duration(math.MaxInt64).Truncate(time.Hour))
			}
			return bad("%q is not a duration (use %s)", n.Value, durationHint(n.Value))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping (%s), not %s", strings.Join(yamlFields(t), ", "), describe(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByName(t, k.Value)
			if !ok {
				return fmt.Errorf("%s:%d: %s: unknown field%s", file, k.Line, k.Value, suggestField(t, k.Value))
			}
			if err := lintNode(file, v, f.Type, k.Value, seen); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("must be a list, not %s", describe(n))
		}
		for _, item := range n.Content {
			if err := lintNode(file, item, t.Elem(), field, seen); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return bad("must be text, not %s", describe(n))
		}
	case reflect.Int:
		if _, err := strconv.Atoi(n.Value); n.Kind != yaml.ScalarNode || err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return bad("%s is too large a number", describe(n))
			}
			return bad("%s is not a whole number", describe(n))
		}
	case reflect.Uint32: // setup file modes
		if _, err := strconv.ParseUint(n.Value, 0, 32); n.Kind != yaml.ScalarNode || err != nil {
			return bad("%s is not a permission (write it in octal, e.g. 0755)", describe(n))
		}
	}
	return nil
}

var spelled = regexp.MustCompile(`^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$`)

// wellFormed is a duration as time.ParseDuration reads it, which it
// refuses only when it is too long.
var wellFormed = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// durationHint turns "5 minutes" into "5m": the fix for the common mistake.
func durationHint(v string) string {
	if m := spelled.FindStringSubmatch(v); m != nil {
		unit := strings.ToLower(m[2])
		for _, u := range []struct{ prefix, short string }{{"ms", "ms"}, {"milli", "ms"}, {"s", "s"}, {"min", "m"}, {"m", "m"}, {"h", "h"}} {
			if strings.HasPrefix(unit, u.prefix) {
				return m[1] + u.short
			}
		}
	}
	if _, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return strings.TrimSpace(v) + "s for seconds"
	}
	return "a number and a unit, e.g. 90s or 5m"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func yamlFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func fieldByName(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key && name != "" {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func suggestField(t reflect.Type, key string) string { return didyoumean.Hint(key, yamlFields(t)) }

// validateSteps checks a solution's steps: known tools, one action per
// step, and the answer last. what names the solution in messages.
func validateSteps(steps []Step, what string) error {
	if len(steps) == 0 {
		return fmt.Errorf("%s has no steps", what)
	}
	for i, s := range steps {
		last := i == len(steps)-1
		switch {
		case s.Tool != "" && s.Answer != "":
			return fmt.Errorf("%s step %d has both a tool and an answer", what, i+1)
		case s.Tool != "" && !slices.Contains(Tools, s.Tool):
			return fmt.Errorf("%s step %d: unknown tool %q (tools: %s)", what, i+1, s.Tool, strings.Join(Tools, ", "))
		case s.Tool == "" && !last:
			return fmt.Errorf("%s step %d: only the last step may be the answer", what, i+1)
		case last && s.Tool != "":
			return fmt.Errorf("%s must end with an answer step", what)
		}
	}
	return nil
}

var tagPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// validateMeta checks the tier, tags and wrong solutions of a parsed task.
func (t *Task) validateMeta(fail func(key, format string, a ...any) error) error {
	if t.Tier != "" && !slices.Contains(Tiers, t.Tier) {
		hint := ""
		if c := didyoumean.One(t.Tier, Tiers); c != "" {
			hint = fmt.Sprintf("did you mean %s? ", c)
		}
		return fail("tier", "tier: unknown tier %q (%stiers: %s)", t.Tier, hint, strings.Join(Tiers, ", "))
	}
	for _, tag := range t.Tags {
		if !tagPattern.MatchString(tag) {
			return fail("tags", "tags: %q must be lower-case letters, digits and '-'", tag)
		}
	}
	names := map[string]bool{}
	for i, w := range t.Wrong {
		if w.Name == "" {
			return fail("wrong", "wrong: solution %d has no name (say what mistake it plays)", i+1)
		}
		if names[w.Name] {
			return fail("wrong", "wrong: two solutions are named %q", w.Name)
		}
		names[w.Name] = true
		if err := validateSteps(w.Steps, fmt.Sprintf("wrong solution %q", w.Name)); err != nil {
			return fail("wrong", "wrong: %v", err)
		}
	}
	return nil
}
