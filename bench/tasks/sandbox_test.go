package tasks

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTaskSandbox(t *testing.T) {
	const base = "id: t\nprompt: p\nchecks: [{file_exists: a}]\nreference: [{answer: done}]\n"
	for _, tc := range []struct {
		name, yaml, err string
		want            Sandbox
	}{
		{"none", "", "", Sandbox{}},
		{"all", "sandbox: {image: node:22-slim, cpu: 0.5, memory_mib: 512, network: true}\n", "", Sandbox{Image: "node:22-slim", CPU: 0.5, MemoryMiB: 512, Network: true}},
		{"negative cpu", "sandbox: {cpu: -1}\n", "sandbox cpu must be between 0 and 64", Sandbox{}},
		{"huge memory", "sandbox: {memory_mib: 999999999}\n", "sandbox memory_mib must be between", Sandbox{}},
		{"not an image", "sandbox: {image: \"a b\"}\n", "is not an image reference", Sandbox{}},
		{"unknown key", "sandbox: {gpu: h100}\n", "gpu: unknown field", Sandbox{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task, err := Parse("t.yaml", []byte(base+tc.yaml))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, task.Sandbox)
		})
	}
}
