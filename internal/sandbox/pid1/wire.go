package pid1

import (
	"encoding/json"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Request is one command for the init; it travels in a pipe whose read end
// comes with the message, since a script can be larger than a socket
// message. Its strings are bytes (base64 in JSON), since a script need not
// be UTF-8.
type Request struct {
	Seq  uint64   `json:"seq"`
	Args [][]byte `json:"args"`
	Env  [][]byte `json:"env"`
	Dir  []byte   `json:"dir"`
}

// ToBytes is ss as the bytes a Request holds.
func ToBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// FromBytes is ToBytes undone.
func FromBytes(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// Message is what goatbench and the init say to each other, one per
// SOCK_SEQPACKET datagram.
type Message struct {
	Op  string `json:"op,omitempty"`  // to the init: "run" (fds: body, stdout, stderr, extra...), "kill" or "workspace" (fd: its tree)
	Seq uint64 `json:"seq,omitempty"` // the command a "kill" or a reply is about
	// Workspace is the path of the next workspace, for "workspace"; none
	// puts none. Bytes, since a path need not be UTF-8.
	Workspace []byte `json:"workspace,omitempty"`
	Ready     bool   `json:"ready,omitempty"`  // from the init: set up
	Status    *int   `json:"status,omitempty"` // from the init: the command's wait status
	Retire    bool   `json:"retire,omitempty"` // from the init: the session takes no more commands
	Err       string `json:"err,omitempty"`    // from the init: why it could not
}

const (
	MaxMessage = 4 << 10 // the largest Message, in bytes
	MaxFiles   = 16      // the most files one Message carries
	MaxBody    = 8 << 20 // a script is at most 128 KiB (MAX_ARG_STRLEN); the rest is env
)

// Encode is m as a datagram and the control message that passes files.
func Encode(m Message, files ...*os.File) (b, oob []byte, err error) {
	if b, err = json.Marshal(m); err != nil {
		return nil, nil, err
	}
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	return b, oob, nil
}

// Buffers are what a datagram is received into.
func Buffers() (b, oob []byte) {
	return make([]byte, MaxMessage), make([]byte, unix.CmsgSpace(MaxFiles*4))
}

// Decode is a received datagram (b) and its control message (oob), with the
// recvmsg flags: a message that is cut, or that is not one, is an error,
// and the files it carried are closed.
func Decode(b, oob []byte, flags int) (Message, []*os.File, error) {
	var files []*os.File
	if cmsgs, err := unix.ParseSocketControlMessage(oob); err == nil {
		for _, cm := range cmsgs {
			fds, err := unix.ParseUnixRights(&cm)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				unix.CloseOnExec(fd)
				files = append(files, os.NewFile(uintptr(fd), "passed"))
			}
		}
	}
	var m Message
	err := json.Unmarshal(b, &m)
	if err == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		err = errors.New("message cut short")
	}
	if err != nil {
		CloseAll(files)
		return Message{}, nil, err
	}
	return m, files, nil
}

// CloseAll closes every file of files.
func CloseAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
