//go:build !unix

package ui

import "os"

func columns(*os.File) int { return 0 }
