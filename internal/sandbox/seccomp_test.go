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
# FS_IOC_GET_ENCRYPTION_KEY_STATUS, and FS_IOC_GETFLAGS, on the workspace:
# the kernel says EOPNOTSUPP or ENOTTY to the first here (no fscrypt), the
# filter EPERM.
fd = os.open(".", os.O_RDONLY); buf = ctypes.create_string_buffer(128)
for name, req in (("fscrypt", 0xc080661a), ("getflags", 0x80086601)):
    r = libc.ioctl(fd, ctypes.c_ulong(req), buf)
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
			c.Dir = workspace(t)
			out := mustRun(t, b, c).Output
			for _, call := range []string{"add_key", "request_key", "keyctl", "fscrypt"} {
				require.Contains(t, out, call+" -1 Operation not permitted", out)
			}
			require.NotContains(t, out, "getflags -1 Operation not permitted", "other ioctls go through")
			// Nor can it list the keys its uid may view, or every uid's
			// key count.
			out = mustRun(t, b, Command{Dir: c.Dir, Script: "cat /proc/keys /proc/key-users; echo cat=$?", Binds: c.Binds}).Output
			require.Contains(t, out, "/proc/keys: Permission denied", out)
			require.Contains(t, out, "/proc/key-users: Permission denied", out)
			require.NotContains(t, out, "keyring", out)
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
		const deny, allow = uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)), uint32(unix.SECCOMP_RET_ALLOW)
		for _, a := range archs {
			for _, nr := range a.nrs {
				require.Equal(t, deny, runFilter(t, prog, a.arch, nr, 0), "%s %#x %d", goarch, a.arch, nr)
				if a.x32 {
					require.Equal(t, deny, runFilter(t, prog, a.arch, nr|0x40000000, 0), "x32 %d", nr)
				}
			}
			for _, nr := range []uint32{0, 1, 59, 247, 251, a.nrs[0] - 1, a.nrs[2] + 1} {
				require.Equal(t, allow, runFilter(t, prog, a.arch, nr, 0xc080661a), "%s %#x %d", goarch, a.arch, nr)
			}
			for _, nr := range a.ioctl {
				// fscrypt's add, remove, remove for all users and status,
				// whatever the size and direction bits or the upper half.
				for _, req := range []uint64{0xc0506617, 0xc0406618, 0xc0406619, 0xc080661a, 0x6617, 0xffffffff_0000661a} {
					require.Equal(t, deny, runFilter(t, prog, a.arch, nr, req), "%s ioctl %#x", goarch, req)
				}
				// Its neighbours ('f' 22 and 27), FS_IOC_GETFLAGS, TCGETS.
				for _, req := range []uint64{0xc0096616, 0x8010661b, 0x80086601, 0x5401, 0x661a0000} {
					require.Equal(t, allow, runFilter(t, prog, a.arch, nr, req), "%s ioctl %#x", goarch, req)
				}
			}
		}
		// Another architecture's keyctl or ioctl number is some other call
		// there.
		require.Equal(t, allow, runFilter(t, prog, 0x12345678, archs[0].nrs[2], 0))
		require.Equal(t, allow, runFilter(t, prog, 0x12345678, archs[0].ioctl[0], 0xc080661a))
	}
	require.Nil(t, keylessFilter("riscv64"), "numbers it does not know are not guessed")
}

// runFilter runs a classic BPF seccomp program over (arch, nr, second
// argument), with the instructions keylessFilter uses.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, arg1 uint64) uint32 {
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
			case 24: // the low half of args[1], little-endian
				acc = uint32(arg1)
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
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if acc >= f.K {
				pc += int(f.Jt)
			} else {
				pc += int(f.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			if acc > f.K {
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
