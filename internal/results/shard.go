package results

import "fmt"

// Shard names one share of a run split across machines: Index of Count,
// counted from 1. The zero value is the whole run.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Whole reports whether s is the whole run rather than a share of it.
func (s Shard) Whole() bool { return s.Count <= 1 }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }
