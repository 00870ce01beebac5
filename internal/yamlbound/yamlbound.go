// Package yamlbound bounds the YAML goatbench reads from files it is given
// (tasks, registries, agent configs): a file that is no regular file or too
// big (ReadFile), more than one document (Single), and documents whose
// aliases (and the merge keys that use them) would expand into more nodes
// than any real file holds (Check): a kilobyte of `*a` nested a few levels
// deep names billions of nodes, and any decoder that expands them hangs or
// runs out of memory.
package yamlbound

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// MaxNodes is the most nodes a document may expand to. The largest task files
// and registries hold a few thousand.
const MaxNodes = 200_000

// Check returns an error when n, with every alias expanded, holds more than
// limit nodes (limit <= 0 means MaxNodes). It visits each node once (an
// alias's size is its anchor's, remembered), so it is fast however big the
// expansion would be, and it refuses an alias that contains itself.
func Check(n *yaml.Node, limit int) error {
	if limit <= 0 {
		limit = MaxNodes
	}
	c := counter{limit: limit, size: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	total, err := c.count(n)
	if err != nil {
		return err
	}
	if total > limit {
		return fmt.Errorf("line %d: its aliases expand to more than %d YAML nodes; write the values out or use fewer nested aliases", aliasLine(n), limit)
	}
	return nil
}

type counter struct {
	limit int
	size  map[*yaml.Node]int
	open  map[*yaml.Node]bool
}

func (c *counter) count(n *yaml.Node) (int, error) {
	if n == nil {
		return 0, nil
	}
	if s, ok := c.size[n]; ok {
		return s, nil
	}
	if c.open[n] {
		return 0, fmt.Errorf("line %d: an alias refers to a node that contains it", n.Line)
	}
	c.open[n] = true
	defer delete(c.open, n)
	total := 1
	if n.Kind == yaml.AliasNode {
		s, err := c.count(n.Alias)
		if err != nil {
			return 0, err
		}
		total += s
	}
	for _, ch := range n.Content {
		s, err := c.count(ch)
		if err != nil {
			return 0, err
		}
		// Saturate: the true size may not fit in an int.
		total = min(total+s, c.limit+1)
	}
	c.size[n] = total
	return total, nil
}

// aliasLine is the line of the first alias in n, where a reader should look.
func aliasLine(n *yaml.Node) int {
	if n.Kind == yaml.AliasNode {
		return n.Line
	}
	for _, ch := range n.Content {
		if l := aliasLine(ch); l > 0 {
			return l
		}
	}
	return 0
}

// Single decodes data's one document into n, and refuses a file holding
// more: a second document (after ---) would be dropped without a word.
func Single(data []byte, n *yaml.Node) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(n); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // no document at all: an empty file
		}
		return err
	}
	for {
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		// A --- with nothing after it drops nothing.
		if c := next.Content; len(c) > 0 && c[0].Tag != "!!null" {
			return fmt.Errorf("line %d: a second YAML document (after ---); a file holds one", c[0].Line)
		}
	}
}
