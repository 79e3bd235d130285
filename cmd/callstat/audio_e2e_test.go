package main

// End-to-end audio tests: what one side sends is what the other side's
// --record file holds, for tones, a WAV file and a real capture path
// through PulseAudio; an unusable microphone is refused before dialling.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstat/callstat/internal/testkit/testdata"
	"github.com/callstat/callstat/pkg/call/audio"
)

// heard checks a --record file: at least minSec long, every 200 ms window
// carries each of want (so the audio was there for the whole call, looped
// files included) at about the level given (judged on the median window:
// a capture path may drop a frame on a loaded machine, which breaks the
// phase but not the tone), and none of notWant (the recorder's own audio)
// leaks in.
func heard(t *testing.T, path string, minSec float64, want map[float64]float64, notWant ...float64) {
	t.Helper()
	samples, info, err := audio.LoadWAV(path)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	if info.SampleRate != 48000 || info.Channels != 1 || info.BitsPerSample != 16 {
		t.Errorf("%s: %s, want 16-bit mono 48 kHz", path, info)
	}
	if info.Duration() < minSec {
		t.Errorf("%s holds %.2f s, want at least %.2f s", filepath.Base(path), info.Duration(), minSec)
	}
	const win = 48000 / 5
	levels := map[float64][]float64{}
	// The first window may start mid-packet and the last be cut by the
	// hang-up: judge the ones in between.
	for i := win; i+2*win <= len(samples); i += win {
		for hz := range want {
			levels[hz] = append(levels[hz], audio.ToneLevel(samples[i:i+win], 48000, hz))
		}
	}
	for hz, lvl := range want {
		quiet := 0
		for _, l := range levels[hz] {
			if l < lvl/2 {
				quiet++
			}
		}
		if quiet > 0 {
			t.Errorf("%s: %g Hz missing from %d of %d 200 ms windows", filepath.Base(path), hz, quiet, len(levels[hz]))
		}
		sorted := slices.Sorted(slices.Values(levels[hz]))
		if len(sorted) == 0 {
			continue
		}
		if m := sorted[len(sorted)/2]; m < lvl*0.8 || m > lvl*1.2 {
			t.Errorf("%s: %g Hz at %.3f (median of 200 ms windows), want about %.2f", filepath.Base(path), hz, m, lvl)
		}
	}
	for _, hz := range notWant {
		if a := audio.ToneLevel(samples, 48000, hz); a > 0.02 {
			t.Errorf("%s: %g Hz at %.3f, want none", filepath.Base(path), hz, a)
		}
	}
}

// Each side sends its own tone and records the other's; the answerer names
// its recording after the call.
func TestAudioTonesRecorded(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"),
		"--audio", "tone:600", "--record", filepath.Join(dir, "alice.wav"))

	stdout, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback",
		"--audio", "tone:1000", "--duration", "3s", "--record", filepath.Join(dir, "bob.wav"))
	if code != 0 {
		t.Fatalf("call exit %d; stderr:\n%s", code, stderr)
	}
	callID := strings.TrimSpace(stdout)
	heard(t, filepath.Join(dir, "bob.wav"), 2.7, map[float64]float64{600: audio.ToneAmplitude}, 1000)
	// The answerer's file is complete once its call has ended.
	alicePath := filepath.Join(dir, "alice-"+callID+".wav")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := audio.LoadWAV(alicePath); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("answerer's recording: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	heard(t, alicePath, 2.7, map[float64]float64{1000: audio.ToneAmplitude}, 600)
}

// A WAV file (22.05 kHz 16-bit stereo, one second, looped) arrives as its
// two tones for the whole call.
func TestAudioFilePlayed(t *testing.T) {
	t.Parallel()
	url, _ := serve(t)
	dir := t.TempDir()
	fixture := testdata.Path(t, "audio", "two-tone-22k-stereo.wav")
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"), "--audio", "file:"+fixture)
	_, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback",
		"--audio", "tone:1000", "--duration", "3s", "--record", filepath.Join(dir, "bob.wav"))
	if code != 0 {
		t.Fatalf("call exit %d; stderr:\n%s", code, stderr)
	}
	// Each channel's tone at 0.4, averaged to mono: 0.2 each.
	heard(t, filepath.Join(dir, "bob.wav"), 2.7, map[float64]float64{700: 0.2, 1500: 0.2}, 1000)
}

// startPulse runs a PulseAudio server of the test's own (its own runtime
// directory and socket, so nothing leaks between runs or tests) with two
// null sinks, each fed a sine by module-sine: capturing a sink's monitor is
// capturing a microphone that hears that tone. The default source is the
// 700 Hz one. It returns the environment that points clients at it, and
// stops the server when the test ends.
func startPulse(t *testing.T) []string {
	t.Helper()
	bin, err := exec.LookPath("pulseaudio")
	if err != nil {
		t.Fatalf("pulseaudio is not installed; 'make test' installs it (apt-get install pulseaudio): %v", err)
	}
	dir, err := os.MkdirTemp("", "pa-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "native")
	script := fmt.Sprintf(`load-module module-null-sink sink_name=callstat_a rate=48000
load-module module-null-sink sink_name=callstat_b rate=48000
load-module module-sine sink=callstat_a frequency=700
load-module module-sine sink=callstat_b frequency=1300
set-default-source callstat_a.monitor
load-module module-native-protocol-unix auth-anonymous=1 socket=%s
`, sock)
	scriptPath := filepath.Join(dir, "callstat.pa")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "pulseaudio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// -n: no default script, only ours; as root PulseAudio warns but runs
	// in user mode with --system=false.
	cmd := exec.Command(bin, "--daemonize=no", "--system=false", "--exit-idle-time=-1", "-n", "-F", scriptPath,
		"--use-pid-file=false", "--realtime=false", "--high-priority=false", "--log-target=stderr")
	env := []string{"HOME=" + dir, "XDG_RUNTIME_DIR=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"PULSE_RUNTIME_PATH=" + filepath.Join(dir, "run"), "PULSE_STATE_PATH=" + filepath.Join(dir, "state")}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- pulseaudio log:\n%s", b)
		}
	})
	// The socket module is loaded last: once it answers, the sinks exist.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("pulseaudio exited (%v):\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pulseaudio socket %s not ready after 20 s: %v", sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return append(env, "PULSE_SERVER=unix:"+sock)
}

// The capture path is real: callstat captures PulseAudio sources through
// --audio mic (the default source) and --audio mic:<id>, and the far end
// records the tone each source hears.
func TestAudioMicThroughPulseAudio(t *testing.T) {
	t.Parallel()
	env := startPulse(t)

	stdout, stderr, code := runEnv(t, 20*time.Second, env, "devices", "--json")
	if code != 0 {
		t.Fatalf("devices exit %d: %s", code, stderr)
	}
	var devs []struct {
		ID      string
		Name    string
		Default bool
	}
	if err := json.Unmarshal([]byte(stdout), &devs); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, stdout)
	}
	found := map[string]bool{}
	for _, d := range devs {
		found[d.ID] = d.Default
	}
	if def, ok := found["callstat_a.monitor"]; !ok || !def {
		t.Errorf("devices lacks the default callstat_a.monitor: %+v", devs)
	}
	if def, ok := found["callstat_b.monitor"]; !ok || def {
		t.Errorf("devices lacks callstat_b.monitor (not default): %+v", devs)
	}

	url, _ := serve(t)
	dir := t.TempDir()
	alice := start(t, "answer alice", env, "answer", "--as", "alice@example.com", "--server", url,
		"--store", filepath.Join(dir, "alice.db"), "--ice-loopback", "--audio", "mic", "--record", filepath.Join(dir, "alice.wav"))
	alice.waitLog(20*time.Second, "registered", nil)
	alice.waitLog(5*time.Second, "capturing microphone", map[string]any{"device": `capture device "Monitor of Null Output" (callstat_a.monitor)`})

	stdout, stderr, code = runEnv(t, 40*time.Second, env, "--log-format", "json", "call", "alice@example.com",
		"--from", "bob@example.com", "--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback",
		"--audio", "mic:callstat_b.monitor", "--duration", "3s", "--record", filepath.Join(dir, "bob.wav"))
	if code != 0 {
		t.Fatalf("call exit %d; stderr:\n%s", code, stderr)
	}
	callID := strings.TrimSpace(stdout)
	heard(t, filepath.Join(dir, "bob.wav"), 2.7, map[float64]float64{700: 0.5}, 1300)
	alice.waitLog(15*time.Second, "call state changed", map[string]any{"call": callID, "state": "Ended"})
	alice.signal(syscall.SIGTERM)
	if code := alice.wait(15 * time.Second); code != 0 {
		t.Fatalf("answerer exit %d", code)
	}
	heard(t, filepath.Join(dir, "alice-"+callID+".wav"), 2.7, map[float64]float64{1300: 0.5}, 700)

	// The caller's stats hold what its microphone captured: media-source
	// at the sine's level.
	calls := dumpFile(t, filepath.Join(dir, "bob.db"), "bob@example.com")
	ss := samples(t, calls[0])
	if lvl, ok := field(ss[len(ss)-1], "media-source", "audioLevel"); !ok || lvl < 0.4 || lvl > 0.6 {
		t.Errorf("caller media-source audioLevel = %v (%v), want about 0.5", lvl, ok)
	}
}

// Without a usable microphone callstat says so, exits 10 before dialling
// (the server sees no client at all), never panics or hangs. The same for
// a WAV file that cannot be played.
func TestAudioSourceUnusable(t *testing.T) {
	t.Parallel()
	url, srv := serve(t)
	dir := t.TempDir()
	// An ALSA configuration with no capture device, and a PulseAudio
	// address where nothing listens: a machine without a microphone.
	alsaConf := filepath.Join(dir, "alsa.conf")
	if err := os.WriteFile(alsaConf, []byte("pcm.!default { type null }\npcm.null { type null }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noPulse := "PULSE_SERVER=unix:" + filepath.Join(dir, "no-pulse-here")
	noDevice := []string{noPulse, "ALSA_CONFIG_PATH=" + alsaConf}
	truncated := filepath.Join(dir, "truncated.wav")
	fixture, err := os.ReadFile(testdata.Path(t, "audio", "two-tone-22k-stereo.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, fixture[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	mp3 := filepath.Join(dir, "song.wav")
	if err := os.WriteFile(mp3, []byte("ID3\x03\x00\x00\x00\x00\x00\x00 not a wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	const useTone = "use --audio tone or --audio file:PATH.wav"
	tests := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"no capture device (call)", noDevice, []string{"call", "alice@example.com", "--from", "bob@example.com", "--audio", "mic"},
			[]string{"USER_MEDIA_ERROR (call:4)", "no capture device found", useTone}},
		{"no capture device (answer, default --audio)", noDevice, []string{"answer", "--as", "alice@example.com"},
			[]string{"USER_MEDIA_ERROR (call:4)", "no capture device found", useTone}},
		// ALSA's null device: GetUserMedia would succeed and "capture"
		// silence hundreds of times faster than real time.
		{"ALSA null device", []string{noPulse}, []string{"call", "alice@example.com", "--from", "bob@example.com", "--audio", "mic:null"},
			[]string{"USER_MEDIA_ERROR (call:4)", "faster than real time", useTone}},
		{"unknown device", []string{noPulse}, []string{"call", "alice@example.com", "--from", "bob@example.com", "--audio", "mic:no-such-mic"},
			[]string{`no capture device "no-such-mic"`, useTone}},
		{"missing WAV file", nil, []string{"call", "alice@example.com", "--from", "bob@example.com", "--audio", "file:" + filepath.Join(dir, "missing.wav")},
			[]string{"USER_MEDIA_ERROR (call:4)", "unusable WAV file", "no such file"}},
		{"truncated WAV file", nil, []string{"call", "alice@example.com", "--from", "bob@example.com", "--audio", "file:" + truncated},
			[]string{"unusable WAV file", "truncated: the data chunk declares 88200 bytes"}},
		{"not a WAV file", nil, []string{"answer", "--as", "alice@example.com", "--audio", "file:" + mp3},
			[]string{"unusable WAV file", "no RIFF/WAVE header"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string(nil), tt.args...), "--server", url, "--store", filepath.Join(dir, fmt.Sprintf("%d.db", i)), "--ice-loopback")
			_, stderr, code := runEnv(t, 30*time.Second, tt.env, args...)
			if code != 10 {
				t.Errorf("exit %d, want 10; stderr:\n%s", code, stderr)
			}
			for _, w := range tt.wants {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", stderr)
			}
		})
	}
	// Nothing reached the server. A phone that connects now is the first
	// client it ever saw: once it is registered, any earlier connection
	// would have been logged before it.
	answerer(t, url, "carol@example.com", filepath.Join(dir, "carol.db"))
	srv.waitLog(10*time.Second, "participant registered", map[string]any{"user": "carol@example.com"})
	var connections, calls int
	for _, l := range srv.Lines() {
		switch l["msg"] {
		case "client connected":
			connections++
		case "call routed", "call to unknown callee":
			calls++
		}
	}
	if connections != 1 || calls != 0 {
		t.Errorf("server saw %d connections and %d calls, want only the answerer's connection", connections, calls)
	}
}

// A recording that cannot be written fails the command (after the call),
// with the call otherwise intact.
func TestAudioRecordWriteFails(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	url, _ := serve(t)
	dir := t.TempDir()
	answerer(t, url, "alice@example.com", filepath.Join(dir, "alice.db"))
	_, stderr, code := run(t, 30*time.Second, "call", "alice@example.com", "--from", "bob@example.com",
		"--server", url, "--store", filepath.Join(dir, "bob.db"), "--ice-loopback",
		"--audio", "tone", "--duration", "2s", "--record", "/dev/full")
	if code != 1 || !strings.Contains(stderr, "recording failed") {
		t.Errorf("exit %d, want 1 with 'recording failed'; stderr:\n%s", code, stderr)
	}
	if calls := dumpFile(t, filepath.Join(dir, "bob.db"), "bob@example.com"); len(calls) != 1 {
		t.Errorf("caller's stats: %d calls", len(calls))
	}
}
