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

	"github.com/callstat/callstat/internal/testkit/chromium"
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

// levelEnergy is what an end measured of one audio object:
// Δ totalAudioEnergy / Δ totalSamplesDuration, the mean square level on
// the scale of audioLevel², between two samples 11 s of the fixture apart.
// The level is updated every 110 ms, the fixture loops every second: in
// 11 s the updates fall on every 10 ms of the loop once, so the figure
// does not depend on where they happen to fall (over a few seconds that
// moves it by several percent). Received audio covers the fixture's time
// net of time stretching (samples removed skip some, samples inserted
// repeat some), and concealed audio is not the fixture's: both count as
// misalignment. The pair kept is the one whose misalignment is the
// smallest part of its span, and it must stay under 1 % (which moves the
// result by under 1.7 %, the loudest 10 ms of the fixture being 1.7 times
// its mean). The first two seconds are left out (the jitter buffer
// settles; the source starts).
// levelCycle is the least common multiple of the fixture's loop (1 s)
// and the level's update period (110 ms), in seconds.
const levelCycle = 11

type levelEnergy struct {
	meanSquare, seconds, misaligned float64
}

func measureLevelEnergy(t *testing.T, who string, samples [][]stats.Object, typ string) levelEnergy {
	t.Helper()
	type point struct{ d, e, concealed, stretch float64 }
	var pts []point
	for _, s := range samples {
		o, ok := audioStream(s, typ)
		if !ok {
			continue
		}
		d, ok1 := o.Number("totalSamplesDuration")
		e, ok2 := o.Number("totalAudioEnergy")
		concealed, _ := o.Number("concealedSamples")
		removed, _ := o.Number("removedSamplesForAcceleration")
		inserted, _ := o.Number("insertedSamplesForDeceleration")
		if ok1 && ok2 && d >= 2 {
			pts = append(pts, point{d, e, concealed / 48000, (removed - inserted) / 48000})
		}
	}
	best, bestCost := levelEnergy{}, math.Inf(1)
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			dd := pts[j].d - pts[i].d
			if dd < levelCycle-1 {
				continue
			}
			covered := dd + pts[j].stretch - pts[i].stretch // of the fixture's time
			off := math.Abs(covered-levelCycle*math.Round(covered/levelCycle)) + pts[j].concealed - pts[i].concealed
			if cost := off / dd; cost < bestCost || (cost == bestCost && dd > best.seconds) {
				best, bestCost = levelEnergy{(pts[j].e - pts[i].e) / dd, dd, off}, cost
			}
		}
	}
	if bestCost > 0.01 {
		t.Fatalf("%s %s: no two samples 11 s of the fixture apart within 1 %%, counting what was concealed or time-stretched "+
			"between them (best %.3f s off over %.2f s), in %d samples: the machine delayed the audio too much to compare levels",
			who, typ, best.misaligned, best.seconds, len(pts))
	}
	return best
}

// Not parallel with the other end-to-end tests: a machine busy with other
// calls delays audio into concealment and time stretching, after which
// the ends no longer play the same audio.
//
// The sent side: Chromium's media-source and callstat's measure the same
// file. The received side: the same encoding must be decoded at both ends
// (two encoders reproduce the peaks the level follows differently), so
// Chromium's inbound-rtp, playing what callstat sent it, is compared with
// callstat's in a call between two callstat processes sending the file.
func TestAudioLevelsMatchChromium(t *testing.T) {
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
	dir := t.TempDir()
	const duration = (levelCycle + 5) * time.Second
	call := func(callee, caller string) (string, string) {
		store := filepath.Join(dir, caller+".db")
		// Five samples a second: pairs 11 s apart are easy to find even
		// when a busy machine makes the sampling irregular.
		stdout, stderr, code := run(t, pageTimeout+duration, "call", callee, "--from", caller, "--server", wsURL, "--store", store,
			"--ice-loopback", "--audio", "file:"+wav, "--duration", duration.String(), "--interval", "200ms")
		if code != 0 {
			t.Fatalf("call from %s exit %d; stderr:\n%s", caller, code, stderr)
		}
		return strings.TrimSpace(stdout), store
	}

	// callstat calls Chromium.
	callID, store := call("web-level@example.com", "bob-level@example.com")
	p.waitState("Ended")
	_, calls := p.download()
	browser := findCall(t, calls, callID).Samples()
	callstat := storedSamples(t, store, "bob-level@example.com", callID)
	// callstat calls callstat.
	alice := answerer(t, wsURL, "alice-level@example.com", filepath.Join(dir, "alice.db"), "--audio", "file:"+wav, "--max-calls", "1")
	peerID, peerStore := call("alice-level@example.com", "carol-level@example.com")
	if code := alice.wait(pageTimeout); code != 0 {
		t.Errorf("answerer exit %d", code)
	}
	peer := storedSamples(t, peerStore, "carol-level@example.com", peerID)

	for _, tc := range []struct {
		typ, what   string
		cs, browser [][]stats.Object
	}{
		{"media-source", "the file, before encoding", callstat, browser},
		{"inbound-rtp", "callstat's encoding of the file, decoded", peer, browser},
	} {
		c := measureLevelEnergy(t, "callstat", tc.cs, tc.typ)
		w := measureLevelEnergy(t, "Chromium", tc.browser, tc.typ)
		diff := (c.meanSquare - w.meanSquare) / w.meanSquare
		t.Logf("MEASURED %s (%s) totalAudioEnergy per second: callstat %.5f (over %.2f s, %.3f s off), Chromium %.5f (over %.2f s, %.3f s off): %+.1f %%; as levels %.4f and %.4f",
			tc.typ, tc.what, c.meanSquare, c.seconds, c.misaligned, w.meanSquare, w.seconds, w.misaligned, 100*diff,
			math.Sqrt(c.meanSquare), math.Sqrt(w.meanSquare))
		if math.Abs(diff) > 0.05 {
			t.Errorf("%s: callstat's energy differs from Chromium's by %+.1f %%, want within 5 %%", tc.typ, 100*diff)
		}
	}
	// For the record: callstat hearing Chromium's encoding (a different
	// encoder: not compared).
	if c := measureLevelEnergy(t, "callstat", callstat, "inbound-rtp"); c.seconds > 0 {
		t.Logf("MEASURED inbound-rtp (Chromium's encoding, decoded by callstat): %.5f over %.2f s", c.meanSquare, c.seconds)
	}
	for _, ss := range [][][]stats.Object{browser, callstat, peer} {
		for _, typ := range []string{"media-source", "inbound-rtp"} {
			if o, ok := audioStream(ss[len(ss)-1], typ); ok {
				t.Logf("%s %s: %s", ss[0][0]["sdk"], typ, levelFields(o))
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
