// Package buildinfo says which callstat this is. The version comes from the
// build: -ldflags "-X .../buildinfo.version=v1.2.3" (the Makefile sets it
// from git describe), else the module version Go embedded, else the VCS
// revision Go embedded. Nothing here is kept by hand.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker.
var (
	version string
	commit  string
)

// Info describes the running binary.
type Info struct {
	Version     string `json:"version"`
	Commit      string `json:"commit"`
	GoVersion   string `json:"go"`
	PionWebRTC  string `json:"pionWebrtc"`
	MediaDevice string `json:"mediadevices"`
}

// Read collects the build information.
func Read() Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		for _, dep := range bi.Deps {
			switch dep.Path {
			case "github.com/pion/webrtc/v4":
				info.PionWebRTC = dep.Version
			case "github.com/pion/mediadevices":
				info.MediaDevice = dep.Version
			}
		}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if info.Commit == "" && rev != "" {
			info.Commit = rev
		}
		if info.Version == "" {
			info.Version = strings.TrimPrefix(bi.Main.Version, "v")
			if info.Version == "" || info.Version == "(devel)" {
				info.Version = "0.0.0-dev"
				if rev != "" {
					info.Version += "." + short(rev)
					if modified == "true" {
						info.Version += "-dirty"
					}
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "0.0.0-dev"
	}
	info.Version = strings.TrimPrefix(info.Version, "v")
	return info
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
