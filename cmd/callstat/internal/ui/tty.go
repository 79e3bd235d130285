package ui

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IsTerminal reports whether w is a terminal that status lines can be drawn
// on: a character device, and TERM is not "dumb" (which has no cursor
// movement).
func IsTerminal(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd()) && getenv("TERM") != "dumb"
}

// Width returns a function that reports w's current width in columns, 80
// when it cannot tell (the window may be resized while a call runs).
func Width(w io.Writer) func() int {
	f, ok := w.(*os.File)
	return func() int {
		if ok {
			if cols := columns(f); cols > 0 {
				return cols
			}
		}
		return 80
	}
}
