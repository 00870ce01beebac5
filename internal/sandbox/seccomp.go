package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// The kernel's keyrings are not namespaced: a key is found by its owner's
// uid, and run by anyone but root, every attempt's commands are the
// caller's uid. A key one attempt keeps alive (pinned in flight, where no
// emptying of keyrings reaches it) was the next attempt's to read. So
// nothing in a bwrap sandbox may use them: add_key(2), request_key(2) and
// keyctl(2) fail with EPERM, as in Docker's default seccomp profile
// ("Prevent containers from using the kernel keyring, which is not
// namespaced": docs.docker.com/engine/security/seccomp/), and so do
// fscrypt's key ioctls, which keep a key where keyctl does not reach (see
// fscryptFirst). The session init
// already works without keyrings (pid1's keyctlWorks): it then has none to
// give or to empty.

// keySyscalls are add_key, request_key and keyctl, and ioctl, for each
// audit architecture a process of this machine may call the kernel as.
var keySyscalls = map[string][]struct {
	arch  uint32
	nrs   [3]uint32
	ioctl []uint32
	x32   bool // the x32 ABI calls as x86-64, with bit 30 set in the number
}{
	// arch/x86/entry/syscalls/syscall_64.tbl (x32's own ioctl is 514) and
	// syscall_32.tbl.
	"amd64": {
		{unix.AUDIT_ARCH_X86_64, [3]uint32{248, 249, 250}, []uint32{16, 514}, true},
		{unix.AUDIT_ARCH_I386, [3]uint32{286, 287, 288}, []uint32{54}, false},
	},
	// include/uapi/asm-generic/unistd.h, and arch/arm/tools/syscall.tbl
	// for 32-bit programs.
	"arm64": {
		{unix.AUDIT_ARCH_AARCH64, [3]uint32{217, 218, 219}, []uint32{29}, false},
		{unix.AUDIT_ARCH_ARM, [3]uint32{309, 310, 311}, []uint32{54}, false},
	},
}

// fscrypt's key ioctls, FS_IOC_ADD_ENCRYPTION_KEY to
// FS_IOC_GET_ENCRYPTION_KEY_STATUS: _IOWR('f', 23) to _IOWR('f', 26)
// (include/uapi/linux/fscrypt.h), compared by type and number. Any user may
// add a key to a filesystem that has the encrypt feature; it stays until
// the filesystem is unmounted, counts in the uid's key quota, and its status
// is anyone's to ask for.
const fscryptFirst, fscryptLast = 0x6617, 0x661a

// keylessFilter is the classic BPF program (struct sock_filter, in this
// machine's byte order) that refuses keyrings; nil where goatbench does
// not know the numbers, and the keyrings are then left to pid1's emptying.
// It reads struct seccomp_data (include/uapi/linux/seccomp.h): the number
// at offset 0, the audit architecture at 4, and an ioctl's request, the
// low half of the second argument, at 24 (every architecture here is
// little-endian).
func keylessFilter(goarch string) []unix.SockFilter {
	archs, ok := keySyscalls[goarch]
	if !ok {
		return nil
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jgt = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		and = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	allow := unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW}
	prog := []unix.SockFilter{{Code: ld, K: 4}}
	// Jumps filled in below, by where their true branch goes.
	var toDeny, toIoctl []int
	for _, a := range archs {
		block := []unix.SockFilter{{Code: jeq, K: a.arch}, {Code: ld, K: 0}}
		if a.x32 {
			block = append(block, unix.SockFilter{Code: and, K: ^uint32(0x40000000)})
		}
		for _, nr := range a.nrs {
			toDeny = append(toDeny, len(prog)+len(block))
			block = append(block, unix.SockFilter{Code: jeq, K: nr})
		}
		for _, nr := range a.ioctl {
			toIoctl = append(toIoctl, len(prog)+len(block))
			block = append(block, unix.SockFilter{Code: jeq, K: nr})
		}
		block = append(block, allow)
		block[0].Jf = uint8(len(block) - 1) // another architecture: the next block
		prog = append(prog, block...)
	}
	prog = append(prog, allow) // an architecture with none of these numbers
	ioctl := len(prog)
	prog = append(prog,
		unix.SockFilter{Code: ld, K: 24},
		unix.SockFilter{Code: and, K: 0xffff},
		unix.SockFilter{Code: jge, K: fscryptFirst, Jf: 1},
		unix.SockFilter{Code: jgt, K: fscryptLast, Jf: 1},
		allow)
	deny := len(prog)
	prog = append(prog, unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)})
	for _, i := range toDeny {
		prog[i].Jt = uint8(deny - i - 1)
	}
	for _, i := range toIoctl {
		prog[i].Jt = uint8(ioctl - i - 1)
	}
	return prog
}

// keyless passes bwrap the filter, as the next of extra (so at fd
// firstExtra+len(extra)), and returns the option that loads it: bwrap
// reads the program from the fd and applies it just before it runs the
// command (bubblewrap's --seccomp FD, in bwrap(1)).
func (b *Bwrap) keyless(extra []*os.File) ([]*os.File, []string, error) {
	code := keylessCode()
	if code == nil || b.keyrings {
		return extra, nil, nil
	}
	r, err := dataPipe(code) // short of it, bwrap refuses to start
	if err != nil {
		return extra, nil, fmt.Errorf("sandbox: seccomp filter: %w", err)
	}
	fd := firstExtra + len(extra)
	return append(extra, r), []string{"--seccomp", strconv.Itoa(fd)}, nil
}

// keylessCode is this machine's filter as bwrap reads it, made once.
var keylessCode = sync.OnceValue(func() []byte {
	prog := keylessFilter(runtime.GOARCH)
	if prog == nil {
		return nil
	}
	code := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		code = binary.NativeEndian.AppendUint16(code, f.Code)
		code = append(code, f.Jt, f.Jf)
		code = binary.NativeEndian.AppendUint32(code, f.K)
	}
	return code
})
