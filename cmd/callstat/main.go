// Command callstat is a headless softphone that places and answers WebRTC
// audio calls and records their statistics. See README.md.
package main

import (
	"os"

	"github.com/callstat/callstat/cmd/callstat/internal/rootcmd"
)

func main() { os.Exit(rootcmd.Main()) }
