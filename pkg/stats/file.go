package stats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StatsFileName is the seed's download name:
// <unix-ms>_sdk<version>_call_stats.json.
func StatsFileName(now time.Time, version string) string {
	return fmt.Sprintf("%d_sdk%s_call_stats.json", now.UnixMilli(), safeVersion(version))
}

// LogsFileName is the seed's log download name: <unix-ms>_sdk<version>_logs.ndjson.
func LogsFileName(now time.Time, version string) string {
	return fmt.Sprintf("%d_sdk%s_logs.ndjson", now.UnixMilli(), safeVersion(version))
}

// safeVersion keeps a version usable in a file name on every system.
func safeVersion(v string) string {
	if v == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '+':
			return r
		default:
			return '-'
		}
	}, v)
}

// WriteFileAtomic creates dir/name through a temporary file and a rename,
// so that a reader never sees half a file and a failure (a full disk)
// leaves nothing behind. It returns the final path.
func WriteFileAtomic(dir, name string, fill func(io.Writer) error) (path string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := fill(bw); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	path = filepath.Join(dir, name)
	if _, statErr := os.Stat(path); statErr == nil {
		return "", fmt.Errorf("%s already exists", path)
	} else if !errors.Is(statErr, os.ErrNotExist) {
		return "", statErr
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	if err := os.Chmod(path, 0o644); err != nil {
		return "", err
	}
	return path, nil
}
