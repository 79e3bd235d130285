// Package chromium finds Debian's Chromium and gives the flags it runs
// with headless as a softphone: a fake microphone and camera, loopback ICE
// candidates, no network of its own. The browser tests and the benchmark
// runner start it the same way.
package chromium

import (
	"errors"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser; `make test`
// installs it when it is missing.
const Path = "/usr/bin/chromium"

// ErrNotInstalled: no Chromium at Path nor on $PATH.
var ErrNotInstalled = errors.New("chromium is not installed: apt-get install chromium")

// Find returns the browser to run: Path, else "chromium" on $PATH.
func Find() (string, error) {
	if _, err := os.Stat(Path); err == nil {
		return Path, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// Options are the allocator options for Chromium at path with a fresh
// profile in profileDir, headless, with fake media.
func Options(path, profileDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profileDir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Without it Chromium gathers no loopback candidates.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
}
