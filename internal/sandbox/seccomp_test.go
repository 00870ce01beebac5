package sandbox

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// keyCalls tries add_key, request_key and keyctl by number, as a program
// that links no keyutils would, and prints each one's errno.
const keyCalls = `python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long
nr = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}[os.uname().machine]
for name, n, args in (("add_key", nr[0], (b"user", b"note", b"from-a-command", 14, -3)),
                      ("request_key", nr[1], (b"user", b"note", None, 0)),
                      ("keyctl", nr[2], (0, -3, 0))):  # KEYCTL_GET_KEYRING_ID @s
    r = libc.syscall(n, *args)
    print(name, r, os.strerror(ctypes.get_errno()) if r < 0 else "ok")
PY`

// No command in a bwrap sandbox can reach the kernel's keyrings, which are
// not namespaced: run by anyone but root, every attempt's commands are one
// uid, and a key one of them kept alive was the next attempt's to read.
func TestNoCommandReachesTheKeyrings(t *testing.T) {
	if keylessFilter(runtime.GOARCH) == nil {
		t.Skip("no keyring syscall numbers for " + runtime.GOARCH)
	}
	b := needBwrap(t, Limits{})
	for name, c := range map[string]Command{
		"session":   {Script: keyCalls},
		"own bwrap": {Script: keyCalls, Binds: []Bind{{Path: "/usr/share"}}},
	} {
		t.Run(name, func(t *testing.T) {
			out := mustRun(t, b, c).Output
			for _, call := range []string{"add_key", "request_key", "keyctl"} {
				require.Contains(t, out, call+" -1 Operation not permitted", out)
			}
		})
	}
	// A session's commands still run, one after another, without keyrings.
	dir := workspace(t)
	for range 3 {
		require.Contains(t, mustRun(t, b, Command{Dir: dir, Script: "echo still-here"}).Output, "still-here")
	}
}

// The filter refuses by architecture and number, and lets every other call
// through, whatever the architecture.
func TestTheKeylessFilterRefusesOnlyKeyrings(t *testing.T) {
	for goarch, archs := range keySyscalls {
		prog := keylessFilter(goarch)
		for _, a := range archs {
			for _, nr := range a.nrs {
				require.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)), runFilter(t, prog, a.arch, nr), "%s %#x %d", goarch, a.arch, nr)
				if a.x32 {
					require.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)), runFilter(t, prog, a.arch, nr|0x40000000), "x32 %d", nr)
				}
			}
			for _, nr := range []uint32{0, 1, 59, 247, 251, a.nrs[0] - 1, a.nrs[2] + 1} {
				require.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), runFilter(t, prog, a.arch, nr), "%s %#x %d", goarch, a.arch, nr)
			}
		}
		// Another architecture's keyctl number is some other call there.
		require.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), runFilter(t, prog, 0x12345678, archs[0].nrs[2]))
	}
	require.Nil(t, keylessFilter("riscv64"), "numbers it does not know are not guessed")
}

// runFilter runs a classic BPF seccomp program over (arch, nr), with the
// instructions keylessFilter uses.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32) uint32 {
	t.Helper()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		f := prog[pc]
		switch f.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			switch f.K {
			case 0:
				acc = nr
			case 4:
				acc = arch
			default:
				t.Fatalf("load of offset %d", f.K)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= f.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == f.K {
				pc += int(f.Jt)
			} else {
				pc += int(f.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return f.K
		default:
			t.Fatalf("instruction %#x", f.Code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}
