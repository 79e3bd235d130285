//go:build !unix

package status

import "os"

func columns(*os.File) int { return 0 }
