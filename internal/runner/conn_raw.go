//go:build !race && !msan && !asan

package runner

// rawReads: the client's connections are eventConns.
const rawReads = true
