//go:build race || msan || asan

package runner

// rawReads: under the race detector or a sanitizer, the client's
// connections read through net.Conn, whose read(2) is instrumented (see
// eventConn).
const rawReads = false
