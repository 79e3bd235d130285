package main

// callstat's audio levels against Chromium's on the same bursty audio:
// Chromium's fake microphone plays testdata/audio/bursty-speech-48k.wav
// and callstat sends the same file, so each end's media-source measures
// the same audio before encoding, and each end's inbound-rtp the same
// audio after the other end's encoder.

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/callstat/callstat/cmd/callstat/internal/chromium"
	"github.com/callstat/callstat/pkg/stats"
)

// burstyFixture is the speech-like audio both ends play: one second of
// syllables and silences, looped (pkg/call/audio's TestBurstyFixture makes
// it).
const burstyFixture = "../../testdata/audio/bursty-speech-48k.wav"

// startBrowserPlaying starts a headless Chromium whose fake microphone
// plays wav in a loop.
func startBrowserPlaying(t *testing.T, wav string) context.Context {
	t.Helper()
	path, err := chromium.Find()
	if err != nil {
		t.Fatalf("%v (`make test` installs the Debian package chromium)", err)
	}
	opts := append(chromium.Options(path, t.TempDir()), chromedp.Flag("use-file-for-fake-audio-capture", wav))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// storedSamples returns every sample of a call in a callstat store.
func storedSamples(t *testing.T, storePath, participant, callID string) [][]stats.Object {
	t.Helper()
	var calls []stats.FileCall
	for _, c := range dumpFile(t, storePath, participant) {
		objs := make([]stats.Object, len(c.Stats))
		for i, o := range c.Stats {
			objs[i] = o
		}
		calls = append(calls, stats.FileCall{CallID: c.ID, Objects: objs})
	}
	return findCall(t, calls, callID).Samples()
}

// levelEnergy is what an end measured of one audio object over whole
// loops of the fixture: Δ totalAudioEnergy / Δ totalSamplesDuration
// between the two samples furthest apart whose durations differ by a
// whole number of seconds (the loop's length), after the first two
// seconds (the jitter buffer settles; the source starts). It is the mean
// square level, on the scale of audioLevel².
type levelEnergy struct {
	meanSquare, seconds float64
}

func measureLevelEnergy(t *testing.T, who string, samples [][]stats.Object, typ string) levelEnergy {
	t.Helper()
	type point struct{ d, e float64 }
	var pts []point
	for _, s := range samples {
		o, ok := audioStream(s, typ)
		if !ok {
			continue
		}
		d, ok1 := o.Number("totalSamplesDuration")
		e, ok2 := o.Number("totalAudioEnergy")
		if ok1 && ok2 && d >= 2 {
			pts = append(pts, point{d, e})
		}
	}
	var best levelEnergy
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			dd := pts[j].d - pts[i].d
			if math.Abs(dd-math.Round(dd)) < 0.005 && dd > best.seconds {
				best = levelEnergy{(pts[j].e - pts[i].e) / dd, dd}
			}
		}
	}
	if best.seconds < 5 {
		t.Fatalf("%s %s: no two samples 5 s or more apart by whole seconds of audio (%d samples)", who, typ, len(pts))
	}
	return best
}

func TestAudioLevelsMatchChromium(t *testing.T) {
	t.Parallel()
	wav, err := filepath.Abs(burstyFixture)
	if err != nil {
		t.Fatal(err)
	}
	wsURL, _ := serve(t)
	b := startBrowserPlaying(t, wav)
	p := openPage(t, b, pageURL(wsURL))
	// The page asks for {audio: true}: Chromium's echo canceller, noise
	// suppressor and gain control would change the audio before it is
	// measured. A page that wants the microphone as it is turns them off;
	// so does this one.
	p.eval(`(() => {
		const md = navigator.mediaDevices, gum = md.getUserMedia.bind(md);
		md.getUserMedia = () => gum({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}, video: false});
		return "";
	})()`)
	p.register("web-level@example.com", true)
	store := filepath.Join(t.TempDir(), "bob.db")
	const duration = 12 * time.Second
	stdout, stderr, code := run(t, pageTimeout+duration, "call", "web-level@example.com", "--from", "bob-level@example.com",
		"--server", wsURL, "--store", store, "--ice-loopback", "--audio", "file:"+wav, "--duration", duration.String())
	if code != 0 {
		t.Fatalf("call exit %d; stderr:\n%s", code, stderr)
	}
	callID := strings.TrimSpace(stdout)
	p.waitState("Ended")
	_, calls := p.download()
	browser := findCall(t, calls, callID).Samples()
	callstat := storedSamples(t, store, "bob-level@example.com", callID)

	for _, typ := range []string{"media-source", "inbound-rtp"} {
		c := measureLevelEnergy(t, "callstat", callstat, typ)
		w := measureLevelEnergy(t, "Chromium", browser, typ)
		diff := (c.meanSquare - w.meanSquare) / w.meanSquare
		t.Logf("MEASURED %s totalAudioEnergy per second: callstat %.5f (over %.0f s), Chromium %.5f (over %.0f s): %+.1f %%; as levels %.4f and %.4f",
			typ, c.meanSquare, c.seconds, w.meanSquare, w.seconds, 100*diff, math.Sqrt(c.meanSquare), math.Sqrt(w.meanSquare))
		if math.Abs(diff) > 0.05 {
			t.Errorf("%s: callstat's energy differs from Chromium's by %+.1f %%, want within 5 %%", typ, 100*diff)
		}
	}
	for _, s := range [][]stats.Object{browser[len(browser)-2], callstat[len(callstat)-2]} {
		for _, typ := range []string{"media-source", "inbound-rtp"} {
			if o, ok := audioStream(s, typ); ok {
				t.Logf("%s %s: %s", s[0]["sdk"], typ, levelFields(o))
			}
		}
	}
}

// levelFields prints an object's level fields, for the log.
func levelFields(o stats.Object) string {
	var b strings.Builder
	for _, f := range []string{"audioLevel", "totalAudioEnergy", "totalSamplesDuration", "concealedSamples", "jitterBufferDelay",
		"jitterBufferEmittedCount", "removedSamplesForAcceleration", "insertedSamplesForDeceleration"} {
		if v, ok := o[f]; ok {
			fmt.Fprintf(&b, " %s=%v", f, v)
		}
	}
	return b.String()
}
