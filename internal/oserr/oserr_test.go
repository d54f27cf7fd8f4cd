package oserr

import (
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, "No such file or directory (os error 2)"},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, "Permission denied (os error 13)"},
		{&fs.PathError{Op: "read", Path: "/x", Err: syscall.EISDIR}, "Is a directory (os error 21)"},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ELOOP}, "Too many levels of symbolic links (os error 40)"},
		{&fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}, "file does not exist"},
		{fmt.Errorf("plain"), "plain"},
	} {
		if got := Text(tt.err); got != tt.want {
			t.Errorf("Text(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
