package models

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// goatbench.yaml also holds the agents (internal/agentcmd); the registry
// leaves that key to them.
func TestRegistryIgnoresAgents(t *testing.T) {
	r, err := build([]layer{{name: EmbeddedName, data: embeddedYAML},
		{name: OverrideFile, data: []byte("agents:\n  goat: goat eval {prompt}\n")}})
	require.NoError(t, err)
	require.NotEmpty(t, r.specs)
}
