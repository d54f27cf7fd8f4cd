// Package oserr formats operating-system errors the way the reference
// server's clients see them: "No such file or directory (os error 2)".
package oserr

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// Text returns err as the reference prints an I/O error: the errno's
// message, capitalised, and its number. Errors without an errno keep their
// own text, minus Go's "op path: " prefix.
func Text(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg := errno.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return fmt.Sprintf("%s (os error %d)", msg, int(errno))
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
