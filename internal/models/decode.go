package models

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/goatbench/goatbench/internal/didyoumean"

	"go.yaml.in/yaml/v3"
)

// fieldError is a problem with one field of one entry; the loader adds the
// file and the model.
type fieldError struct {
	line  int
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func errAt(n *yaml.Node, field, format string, a ...any) *fieldError {
	return &fieldError{line: n.Line, field: field, msg: fmt.Sprintf(format, a...)}
}

// pair is one key/value of a YAML mapping.
type pair struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mappingPairs lists a mapping's pairs with YAML merge keys (<<) expanded
// the way YAML defines them: explicit keys win over merged ones, and earlier
// merge sources win over later ones. A key given twice explicitly is an error.
func mappingPairs(n *yaml.Node, path string) ([]pair, error) {
	var explicit, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, path, "keys must be plain names")
		}
		if k.Tag == "!!merge" || k.Value == "<<" {
			srcs := []*yaml.Node{resolve(v)}
			if srcs[0].Kind == yaml.SequenceNode {
				srcs = srcs[0].Content
			}
			for _, src := range srcs {
				src = resolve(src)
				if src.Kind != yaml.MappingNode {
					return nil, errAt(v, path, "<< must merge a mapping")
				}
				ps, err := mappingPairs(src, path)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			return nil, errAt(k, join(path, k.Value), "given twice (first on line %d)", first.Line)
		}
		seen[k.Value] = k
		explicit = append(explicit, pair{key: k.Value, keyN: k, value: v})
	}
	out := explicit
	for _, p := range merged {
		if _, ok := seen[p.key]; !ok {
			seen[p.key] = p.keyN
			out = append(out, p)
		}
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var jsonObjectType = reflect.TypeFor[JSONObject]()

// decodeInto applies a YAML node to an existing value, field by field:
// struct fields and env entries the node does not name keep their values,
// everything else (scalars, lists, JSON objects) is replaced, and null
// clears. Unknown fields are errors naming the field.
func decodeInto(n *yaml.Node, v reflect.Value, path string) error {
	n = resolve(n)
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	if v.Type() == jsonObjectType {
		if n.Kind != yaml.MappingNode {
			return errAt(n, path, "want a mapping, got %s", describeNode(n))
		}
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return errAt(n, path, "%s", yamlErrText(err))
		}
		// vLLM receives it as JSON, so it has to survive encoding (a
		// mapping with non-string keys would not).
		if _, err := json.Marshal(m); err != nil {
			return errAt(n, path, "cannot be passed to vLLM as JSON: %v", err)
		}
		v.Set(reflect.ValueOf(JSONObject(m)))
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return errAt(n, path, "want a mapping, got %s", describeNode(n))
		}
		pairs, err := mappingPairs(n, path)
		if err != nil {
			return err
		}
		for _, p := range pairs {
			f, ok := fieldByTag(v.Type(), p.key)
			if !ok {
				return errAt(p.keyN, join(path, p.key), "unknown field%s", suggestField(v.Type(), p.key))
			}
			if err := decodeInto(p.value, v.FieldByIndex(f.Index), join(path, p.key)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return errAt(n, path, "want a mapping, got %s", describeNode(n))
		}
		pairs, err := mappingPairs(n, path)
		if err != nil {
			return err
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for _, p := range pairs {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := decodeInto(p.value, elem, join(path, p.key)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(p.key), elem)
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode && v.Kind() != reflect.Slice {
		return errAt(n, path, "want %s, got %s", describeType(v.Type()), describeNode(n))
	}
	ptr := reflect.New(v.Type())
	if err := n.Decode(ptr.Interface()); err != nil {
		return errAt(n, path, "want %s, got %s", describeType(v.Type()), describeNode(n))
	}
	// YAML has .nan and .inf; no price, size or rate is either, and a NaN
	// price would only fail once a run folder exists.
	if !finite(ptr.Elem()) {
		return errAt(n, path, "want a finite number, got %s", describeNode(n))
	}
	v.Set(ptr.Elem())
	return nil
}

// finite reports whether v holds no NaN or infinity, in itself, behind a
// pointer or in a list.
func finite(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return !math.IsNaN(v.Float()) && !math.IsInf(v.Float(), 0)
	case reflect.Pointer:
		return v.IsNil() || finite(v.Elem())
	case reflect.Slice:
		for i := range v.Len() {
			if !finite(v.Index(i)) {
				return false
			}
		}
	}
	return true
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := yamlName(f); tag == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func suggestField(t reflect.Type, key string) string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return didyoumean.Hint(key, names)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(describeType(t.Elem()), "a ") + "s"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// yamlErrText strips the multi-line framing yaml.v3 puts around its errors.
func yamlErrText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimPrefix(s, "yaml: ")
	return strings.Join(strings.Fields(s), " ")
}
