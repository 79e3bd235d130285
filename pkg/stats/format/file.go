// Package format reads and writes the files callstat hands out: the stats
// file (FileCall, ReadFile; docs/stats-file.md), the webrtc-internals dump
// (InternalsWriter), their names (StatsFileName, InternalsFileName,
// LogsFileName), and WriteFileAtomic, which creates them.
package format

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/callstat/callstat/pkg/stats"
)

// StatsFileName is the seed's download name:
// <unix-ms>_sdk<version>_call_stats.json.
func StatsFileName(now time.Time, version string) string {
	return fmt.Sprintf("%d_sdk%s_call_stats.json", now.UnixMilli(), safeVersion(version))
}

// InternalsFileName names a webrtc-internals dump:
// <unix-ms>_sdk<version>_webrtc_internals.json.
func InternalsFileName(now time.Time, version string) string {
	return fmt.Sprintf("%d_sdk%s_webrtc_internals.json", now.UnixMilli(), safeVersion(version))
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

// WriteFileAtomic creates dir/name through a temporary file, so that a
// reader never sees half a file and a failure (a full disk) leaves nothing
// behind. It never replaces an existing file: that error wraps fs.ErrExist.
// It returns the final path.
func WriteFileAtomic(dir, name string, fill func(io.Writer) error) (path string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return "", err
	}
	// Whatever happens, the temporary name goes: on success it has been
	// linked or renamed to path.
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	if err := fill(bw); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	// Before the file appears under its name, so that it never appears with
	// CreateTemp's 0600.
	if err := tmp.Chmod(0o644); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	path = filepath.Join(dir, name)
	// A hard link fails if path exists, atomically; a check then a rename
	// would overwrite a file created in between.
	lerr := os.Link(tmp.Name(), path)
	switch {
	case lerr == nil:
		return path, nil
	case errors.Is(lerr, fs.ErrExist):
		return "", &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	// The file system has no hard links (FAT, some network mounts): fall
	// back to check-then-rename.
	if _, statErr := os.Lstat(path); statErr == nil {
		return "", &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return "", statErr
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// ErrNotStatsFile means data is not in the stats file's structure.
var ErrNotStatsFile = errors.New("not a stats file: want [[callId, [stat, ...]], ...]")

// FileCall is one element of a stats file: a call id and every object of
// every sample of the call, one sample after another.
type FileCall struct {
	CallID  string
	Objects []stats.Object
}

// MarshalJSON writes the seed's pair [callId, [stat, ...]].
func (c FileCall) MarshalJSON() ([]byte, error) {
	objs := c.Objects
	if objs == nil {
		objs = []stats.Object{} // [] as the seed writes, not null
	}
	return json.Marshal([]any{c.CallID, objs})
}

// UnmarshalJSON reads the seed's pair [callId, [stat, ...]].
func (c *FileCall) UnmarshalJSON(data []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(data, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("%w: a call is not a [callId, [stat, ...]] pair", ErrNotStatsFile)
	}
	var id string
	if err := json.Unmarshal(pair[0], &id); err != nil {
		return fmt.Errorf("%w: call id is not a string: %v", ErrNotStatsFile, err)
	}
	var objs []stats.Object
	if err := json.Unmarshal(pair[1], &objs); err != nil {
		return fmt.Errorf("%w: stats of call %s are not a list of objects: %v", ErrNotStatsFile, id, err)
	}
	c.CallID, c.Objects = id, objs
	return nil
}

// Samples splits the call's flat list back into samples: each one starts
// with an SDK entry (type "<sdk>_sdk_info"). Objects before the first SDK
// entry, which callstat never writes, form a sample of their own rather
// than being dropped.
func (c FileCall) Samples() [][]stats.Object {
	var out [][]stats.Object
	for i, o := range c.Objects {
		if i == 0 || stats.IsSDKEntry(o) {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], o)
	}
	return out
}

// ReadFile decodes a stats file, oldest call first, as written by
// "callstat dump" (or the seed's download).
func ReadFile(r io.Reader) ([]FileCall, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	// Unmarshal would take null for an empty list.
	if b := bytes.TrimSpace(data); len(b) == 0 || b[0] != '[' {
		return nil, ErrNotStatsFile
	}
	calls := []FileCall{}
	if err := json.Unmarshal(data, &calls); err != nil {
		if errors.Is(err, ErrNotStatsFile) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrNotStatsFile, err)
	}
	return calls, nil
}
