package models

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLoad measures what every command pays to load the registry.
func BenchmarkLoad(b *testing.B) {
	b.Chdir(b.TempDir())
	for b.Loop() {
		if _, err := Load(""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMergeLiteLLM measures a merge into a real-shaped LiteLLM config.
func BenchmarkMergeLiteLLM(b *testing.B) {
	src, err := os.ReadFile(filepath.Join(testdata, "litellm-config-modal.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.Chdir(b.TempDir())
	r, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	entries := r.LiteLLMEntries(LiteLLMTarget{Workspace: "phare-goat"})
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, _, err := MergeLiteLLM(src, entries); err != nil {
			b.Fatal(err)
		}
	}
}
