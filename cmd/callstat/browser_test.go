package main

// Browser tests: Debian's Chromium, headless and driven through the DevTools
// protocol, loads the page that "callstat serve" serves and calls, or is
// called by, real callstat processes over loopback. Chromium's fake capture
// device sends a beep; callstat sends a tone.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/callstat/callstat/internal/testkit/chromium"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/format"
)

// pageTimeout bounds each wait for the page to reach a state. Generous: the
// tests share two cores with the race detector and other test binaries.
const pageTimeout = 30 * time.Second

// browserCallPackets is how many packets each direction of a measured call
// carries before it is hung up (50 per second): enough that the few packets
// in flight when the two ends take their final samples stay under 1 %.
const browserCallPackets = 500

// startBrowser starts one headless Chromium for a test and its subtests.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := chromium.Find()
	if err != nil {
		t.Fatalf("%v (`make test` installs the Debian package chromium)", err)
	}
	opts := chromium.Options(path, t.TempDir())
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// page is one tab showing the softphone page.
type page struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors and exceptions not from the page's own log
	expected []string // substrings of console errors a test provokes on purpose
}

// openPage opens the page in a new tab. The test fails if the page throws,
// or the browser reports an error (a refused request, a Content-Security-
// Policy violation) other than the page's own message log.
func openPage(t *testing.T, browserCtx context.Context, url string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	// The first run opens the tab, which lives as long as that run's
	// context: it must not be one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	console := chromedp.Console(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range console {
			if err != nil {
				return // the tab closed
			}
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !strings.HasPrefix(m.Text, "callstat: ") {
				p.mu.Lock()
				p.problems = append(p.problems, m.String())
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- page messages:\n%s", p.messages())
		}
		cancel()
		<-watched
		p.mu.Lock()
		defer p.mu.Unlock()
	problems:
		for _, pr := range p.problems {
			for _, e := range p.expected {
				if strings.Contains(pr, e) {
					continue problems
				}
			}
			t.Errorf("browser console: %s", pr)
		}
	})
	p.do(chromedp.Navigate(url))
	p.waitJS(`window.callstat !== undefined`, "the page's script to load")
	return p
}

// expectConsoleError lets a console error containing text pass.
func (p *page) expectConsoleError(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = append(p.expected, text)
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("page: %v\n--- page messages:\n%s", err, p.messages())
	}
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is truthy in the page. It evaluates expr through
// the DevTools protocol rather than with chromedp.Poll, whose in-page
// new Function the page's Content-Security-Policy rightly refuses.
func (p *page) waitJS(expr, what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("Boolean(%s)", expr)))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("waiting for %s: %v (last error: %v)\n--- page messages:\n%s", what, ctx.Err(), err, p.messages())
		case <-tick.C:
		}
	}
}

func (p *page) messages() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("messages").innerText`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return v
}

func (p *page) waitState(state string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`document.getElementById("call-state").textContent === %q`, state), "call state "+state)
}

// waitMessage waits until the message log has a line containing text.
func (p *page) waitMessage(text string) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`document.getElementById("messages").innerText.includes(%q)`, text), fmt.Sprintf("message %q", text))
}

func (p *page) fill(id, value string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.ID(id), value))
}

func (p *page) click(id string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.ID(id), chromedp.NodeVisible))
}

func (p *page) setChecked(id string, on bool) {
	p.t.Helper()
	if p.eval(fmt.Sprintf(`String(document.getElementById(%q).checked)`, id)) != fmt.Sprint(on) {
		p.click(id)
	}
}

func (p *page) callID() string {
	p.t.Helper()
	return p.eval(`window.callstat.call()?.id ?? ""`)
}

func (p *page) register(id string, autoAnswer bool) {
	p.t.Helper()
	p.fill("register-as", id)
	p.setChecked("auto-answer", autoAnswer)
	p.click("register")
	p.waitMessage("Registered as " + id)
}

// waitSamples waits until the page has stored n samples of the current call.
func (p *page) waitSamples(n int) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf(`(() => {
		const id = window.callstat.call()?.id;
		const c = window.callstat.callStats().find((e) => e[0] === id);
		return c !== undefined && c[1].filter((o) => o.type === "callstat_web_sdk_info").length >= %d;
	})()`, n), fmt.Sprintf("%d samples", n))
}

// download clicks Download Call Stats and returns the file's name and its
// calls, read with callstat's own stats file reader.
func (p *page) download() (string, []format.FileCall) {
	p.t.Helper()
	dir := p.t.TempDir()
	if _, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		p.t.Fatalf("SetDownloadBehavior: %v", err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, pageTimeout)
	defer cancel()
	begins := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	p.click("download-stats")
	var name, guid string
	for ev, err := range begins {
		if err != nil {
			p.t.Fatalf("no download began: %v", err)
		}
		name, guid = ev.SuggestedFilename, ev.GUID
		break
	}
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("download did not complete: %v", err)
		}
		if ev.GUID != guid {
			continue
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			p.t.Fatalf("download of %s was cancelled", name)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			break
		}
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		p.t.Fatalf("downloaded file: %v", err)
	}
	defer f.Close()
	calls, err := format.ReadFile(f)
	if err != nil {
		p.t.Fatalf("downloaded %s is not a stats file: %v", name, err)
	}
	return name, calls
}

// frames records the WebSocket frames the page sends.
type frames struct {
	mu   sync.Mutex
	sent []string
}

func (p *page) recordFrames() *frames {
	p.t.Helper()
	fr := &frames{}
	if err := chromedp.Listen(p.ctx, func(ev any) {
		if e, ok := ev.(*network.EventWebSocketFrameSent); ok && e.Response != nil {
			fr.mu.Lock()
			fr.sent = append(fr.sent, string(e.Response.PayloadData))
			fr.mu.Unlock()
		}
	}); err != nil {
		p.t.Fatal(err)
	}
	return fr
}

func (fr *frames) ofType(typ string) []map[string]any {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	var out []map[string]any
	for _, s := range fr.sent {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil && m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

// findCall returns the call with id from a stats file.
func findCall(t *testing.T, calls []format.FileCall, id string) format.FileCall {
	t.Helper()
	for _, c := range calls {
		if c.CallID == id {
			return c
		}
	}
	t.Fatalf("stats file has no call %s (%d calls)", id, len(calls))
	return format.FileCall{}
}

// audioStream returns the audio object of type typ in a sample.
func audioStream(sample []stats.Object, typ string) (stats.Object, bool) {
	for _, o := range sample {
		if o.Type() == typ && (o["kind"] == nil || o["kind"] == "audio") {
			return o, true
		}
	}
	return nil, false
}

func number(t *testing.T, sample []stats.Object, typ, field string) float64 {
	t.Helper()
	o, ok := audioStream(sample, typ)
	if !ok {
		t.Fatalf("sample has no %s", typ)
	}
	v, ok := o.Number(field)
	if !ok {
		t.Fatalf("%s has no numeric %s: %v", typ, field, o)
	}
	return v
}

// checkBrowserCall checks the browser's samples of one call: SDK entry
// first in each, state Ended in the last, and audio that was heard.
func checkBrowserCall(t *testing.T, c format.FileCall, version string) [][]stats.Object {
	t.Helper()
	ss := c.Samples()
	if len(ss) < 3 {
		t.Fatalf("browser kept %d samples of call %s, want several", len(ss), c.CallID)
	}
	for i, s := range ss {
		e := s[0]
		if e.Type() != "callstat_web_sdk_info" || e["sdk"] != "callstat-web" || e["callId"] != c.CallID ||
			e["version"] != version || !strings.HasPrefix(e.ID(), "callstat-web-sdk-info_") || e["platform"] == "" {
			t.Fatalf("sample %d SDK entry = %v", i, e)
		}
		if len(s) < 2 {
			t.Fatalf("sample %d has no RTCStats", i)
		}
		ts, _ := e.Number("timestamp")
		first, _ := s[1].Number("timestamp")
		if ts != first {
			t.Errorf("sample %d SDK timestamp %v, want the first RTCStats timestamp %v", i, ts, first)
		}
	}
	// One sample a second: the median gap between the regular samples
	// (the final one comes at the end, whenever that is).
	var gaps []float64
	for i := 1; i < len(ss)-1; i++ {
		a, _ := ss[i-1][0].Number("timestamp")
		b, _ := ss[i][0].Number("timestamp")
		gaps = append(gaps, b-a)
	}
	sort.Float64s(gaps)
	if len(gaps) > 0 {
		if med := gaps[len(gaps)/2]; med < 900 || med > 1100 {
			t.Errorf("median gap between samples %v ms, want about 1000 (gaps %v)", med, gaps)
		}
	}
	var types []string
	for _, o := range ss[len(ss)-1] {
		types = append(types, o.Type())
	}
	t.Logf("browser's last sample: %s", strings.Join(types, " "))
	if st := ss[len(ss)-1][0]["state"]; st != "Ended" {
		t.Errorf("last sample's state = %v, want Ended", st)
	}
	if st := ss[0][0]["state"]; st == "Ended" {
		t.Errorf("first sample already Ended")
	}
	var level float64
	for _, s := range ss {
		if o, ok := audioStream(s, "inbound-rtp"); ok {
			if v, ok := o.Number("audioLevel"); ok && v > level {
				level = v
			}
		}
	}
	if level <= 0 {
		t.Errorf("browser's inbound-rtp audioLevel stayed 0: it heard no audio")
	}
	return ss
}

// agree reports whether two packet counts are within 1 % of each other.
func agree(a, b float64) bool { return math.Abs(a-b) <= 0.01*math.Max(a, b) }

// checkCounts compares what each end of one call sent with what the other
// received. The two ends stop at different moments (the one that hangs up
// first stops receiving while the other still sends), so each receiver's
// final count is compared with the sender's count at the moment the
// receiver got its last packet (inbound-rtp lastPacketReceivedTimestamp),
// interpolated between the sender's samples: both ends run on this host and
// share its clock.
func checkCounts(t *testing.T, browser, callstat [][]stats.Object) {
	t.Helper()
	browserLast, callstatLast := browser[len(browser)-1], callstat[len(callstat)-1]
	cRecv := number(t, callstatLast, "inbound-rtp", "packetsReceived")
	bRecv := number(t, browserLast, "inbound-rtp", "packetsReceived")
	bSent := sentAt(t, browser, number(t, callstatLast, "inbound-rtp", "lastPacketReceivedTimestamp"))
	cSent := sentAt(t, callstat, number(t, browserLast, "inbound-rtp", "lastPacketReceivedTimestamp"))
	t.Logf("browser sent %.0f, callstat received %v; callstat sent %.0f, browser received %v (senders' counts when the receiver got its last packet)",
		bSent, cRecv, cSent, bRecv)
	// callstat's side heard audio: packets with Opus payloads in them.
	if cBytes := number(t, callstatLast, "inbound-rtp", "bytesReceived"); cBytes < 10*cRecv {
		t.Errorf("callstat's inbound-rtp has %v bytes in %v packets: no audio payloads", cBytes, cRecv)
	}
	// ...and decoded them to sound: Chromium's fake microphone beeps, so
	// the energy callstat measured in what it decoded is above zero.
	if e := number(t, callstatLast, "inbound-rtp", "totalAudioEnergy"); e <= 0 {
		t.Errorf("callstat's decoded audio is silent: inbound-rtp totalAudioEnergy = %v", e)
	}
	if bSent < browserCallPackets*0.9 || cSent < browserCallPackets*0.9 {
		t.Errorf("too few packets sent for the comparison: browser %.0f, callstat %.0f", bSent, cSent)
	}
	if !agree(bSent, cRecv) {
		t.Errorf("browser outbound packetsSent %.0f and callstat inbound packetsReceived %v differ by more than 1 %%", bSent, cRecv)
	}
	if !agree(cSent, bRecv) {
		t.Errorf("callstat outbound packetsSent %.0f and browser inbound packetsReceived %v differ by more than 1 %%", cSent, bRecv)
	}
}

// sentAt is a sender's outbound-rtp packetsSent at time at (epoch ms),
// interpolated between the two samples around it; the last count when at is
// after the last sample.
func sentAt(t *testing.T, samples [][]stats.Object, at float64) float64 {
	t.Helper()
	type point struct{ ts, sent float64 }
	var pts []point
	for _, s := range samples {
		o, ok := audioStream(s, "outbound-rtp")
		if !ok {
			continue
		}
		ts, okT := o.Number("timestamp")
		sent, okS := o.Number("packetsSent")
		if okT && okS {
			pts = append(pts, point{ts, sent})
		}
	}
	if len(pts) == 0 {
		t.Fatal("no outbound-rtp packetsSent in the sender's samples")
	}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if at <= b.ts && b.ts > a.ts {
			if at <= a.ts {
				return a.sent
			}
			return a.sent + (b.sent-a.sent)*(at-a.ts)/(b.ts-a.ts)
		}
	}
	return pts[len(pts)-1].sent
}

// storedSamples returns the samples of a call in a callstat store, as
// "callstat dump" writes them; the last one must be in state Ended.
func storedSamples(t *testing.T, storePath, participant, callID string) [][]stats.Object {
	t.Helper()
	var calls []format.FileCall
	for _, c := range dumpFile(t, storePath, participant) {
		objs := make([]stats.Object, len(c.Stats))
		for i, o := range c.Stats {
			objs[i] = o
		}
		calls = append(calls, format.FileCall{CallID: c.ID, Objects: objs})
	}
	ss := findCall(t, calls, callID).Samples()
	if last := ss[len(ss)-1]; last[0]["state"] != "Ended" {
		t.Fatalf("callstat's last sample is in state %v, want Ended", last[0]["state"])
	}
	return ss
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// pageURL turns the server's WebSocket URL into the page's.
func pageURL(wsURL string) string {
	return strings.TrimSuffix(strings.Replace(wsURL, "ws://", "http://", 1), "ws")
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	wsURL, srv := serve(t)
	url := pageURL(wsURL)
	if logged := srv.waitLog(time.Second, "signaling server listening", nil)["page"]; logged != url {
		t.Fatalf("serve logged page %v, want %s", logged, url)
	}
	pageVersion := func(p *page) string { return p.eval(`window.callstat.version`) }
	b := startBrowser(t)
	dir := t.TempDir()

	t.Run("browser calls callstat answer and hangs up", func(t *testing.T) {
		store := filepath.Join(dir, "alice1.db")
		alice := answerer(t, wsURL, "alice1@example.com", store, "--max-calls", "1")
		p := openPage(t, b, url)
		p.fill("caller", "web1@example.com")
		p.fill("callee", "alice1@example.com")
		p.click("make-call")
		p.waitState("Connected")
		callID := p.callID()
		p.waitSamples(browserCallPackets / 50)
		// The live panel shows the call's figures.
		for id, re := range map[string]*regexp.Regexp{
			"stat-rtt":         regexp.MustCompile(`^\d+\.\d ms$`),
			"stat-jitter":      regexp.MustCompile(`^\d+\.\d ms$`),
			"stat-loss":        regexp.MustCompile(`^\d+\.\d\d % \(\d+ of [1-9]\d* packets\)$`),
			"stat-bitrate":     regexp.MustCompile(`^[1-9]\d*\.\d kbit/s / [1-9]\d*\.\d kbit/s$`),
			"stat-audio-level": regexp.MustCompile(`^(0\.\d{3}[1-9]|0\.\d{0,2}[1-9]\d*|1\.0000)$`), // > 0: callstat's tone
			"media-state":      regexp.MustCompile(`^(connected|completed)$`),
		} {
			if got := p.eval(fmt.Sprintf(`document.getElementById(%q).textContent`, id)); !re.MatchString(got) {
				t.Errorf("live panel %s = %q, want %s", id, got, re)
			}
		}
		p.click("end-call")
		p.waitState("Ended")
		p.waitMessage("Call state changed from Connected to Ended (200 hung up in the browser)")
		alice.waitLog(pageTimeout, "call state changed", map[string]any{"state": "Ended", "statusCode": 200, "reason": "hung up in the browser"})
		if code := alice.wait(pageTimeout); code != 0 {
			t.Fatalf("answerer exit %d", code)
		}

		name, calls := p.download()
		if !statsFileRE.MatchString(name) || !strings.Contains(name, "_sdk"+pageVersion(p)+"_") {
			t.Errorf("downloaded file name %q, want <unix-ms>_sdk<version>_call_stats.json", name)
		}
		ss := checkBrowserCall(t, findCall(t, calls, callID), pageVersion(p))
		checkCounts(t, ss, storedSamples(t, store, "alice1@example.com", callID))
	})

	t.Run("callstat call reaches the browser and hangs up", func(t *testing.T) {
		p := openPage(t, b, url)
		p.register("web2@example.com", true)
		store := filepath.Join(dir, "bob2.db")
		duration := time.Duration(browserCallPackets/50) * time.Second
		stdout, stderr, code := run(t, pageTimeout+duration, "--log-level", "debug", "call", "web2@example.com", "--from", "bob2@example.com",
			"--server", wsURL, "--store", store, "--ice-loopback", "--audio", "tone:440", "--duration", duration.String())
		if code != 0 {
			t.Fatalf("call exit %d, want 0; stderr:\n%s", code, stderr)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("--- call stderr:\n%s", stderr)
			}
		})
		callID := strings.TrimSpace(stdout)
		p.waitState("Ended")
		p.waitMessage("Auto-answering.")
		p.waitMessage("Call state changed from Ringing to Connected (200 media connected)")
		p.waitMessage(fmt.Sprintf("Call state changed from Connected to Ended (200 call duration %s reached)", duration))
		if got := p.callID(); got != callID {
			t.Fatalf("page's call %s, callstat's %s", got, callID)
		}
		_, calls := p.download()
		ss := checkBrowserCall(t, findCall(t, calls, callID), pageVersion(p))
		checkCounts(t, ss, storedSamples(t, store, "bob2@example.com", callID))
	})

	t.Run("unknown callee and the ring of five", func(t *testing.T) {
		p := openPage(t, b, url)
		p.fill("caller", "web3@example.com")
		p.fill("callee", "nobody@example.com")
		var ids []string
		for i := range 6 {
			p.click("make-call")
			p.waitJS(fmt.Sprintf(`window.callstat.call()?.id !== %q && window.callstat.call()?.state === "Ended" &&
				!document.getElementById("make-call").disabled`, p.callID()), fmt.Sprintf("call %d to end", i+1))
			ids = append(ids, p.callID())
			if i == 0 {
				msgs := p.messages()
				for _, want := range []string{
					"Error: callee nobody@example.com is not registered (404: nobody is registered as nobody@example.com)",
					"Call state changed from Initiating to Ended (404 callee nobody@example.com is not registered)",
				} {
					if !strings.Contains(msgs, want) {
						t.Errorf("messages lack %q:\n%s", want, msgs)
					}
				}
			}
		}
		if n := strings.Count(p.messages(), "Removing all call statistics associated with oldest call."); n != 1 {
			t.Errorf("eviction logged %d times over 6 calls, want 1", n)
		}
		_, calls := p.download()
		var got []string
		for _, c := range calls {
			got = append(got, c.CallID)
		}
		if strings.Join(got, ",") != strings.Join(ids[1:], ",") {
			t.Errorf("ring holds %v, want the last five calls %v", got, ids[1:])
		}
	})

	t.Run("answer and reject prompt", func(t *testing.T) {
		p := openPage(t, b, url)
		p.register("web4@example.com", false)
		store := filepath.Join(dir, "carol4.db")
		callArgs := []string{"call", "web4@example.com", "--from", "carol4@example.com", "--server", wsURL,
			"--store", store, "--ice-loopback", "--audio", "tone"}

		// Reject: the caller hears "declined".
		carol := start(t, "call (reject)", nil, append(callArgs, "--answer-timeout", "60s")...)
		p.waitJS(`getComputedStyle(document.getElementById("incoming")).display !== "none"`, "the Answer/Reject prompt")
		if txt := p.eval(`document.getElementById("incoming-text").textContent`); txt != "Incoming call from carol4@example.com" {
			t.Errorf("prompt says %q", txt)
		}
		// A second call while the first rings: busy.
		_, stderr, code := run(t, pageTimeout, "call", "web4@example.com", "--from", "dave4@example.com", "--server", wsURL,
			"--store", filepath.Join(dir, "dave4.db"), "--ice-loopback", "--audio", "tone")
		if code != 5 || !strings.Contains(stderr, "busy here") {
			t.Errorf("second caller exit %d, want 5 (busy); stderr:\n%s", code, stderr)
		}
		p.waitMessage("Rejected a call from dave4@example.com: a call is already in progress.")
		if txt := p.eval(`document.getElementById("incoming-text").textContent`); txt != "Incoming call from carol4@example.com" {
			t.Errorf("after the busy call, prompt says %q", txt)
		}
		p.click("reject")
		if code := carol.wait(pageTimeout); code != 5 {
			t.Errorf("rejected caller exit %d, want 5", code)
		}
		p.waitState("Ended")
		p.waitMessage("Call state changed from Ringing to Ended (603 rejected locally: declined)")

		// Answer by hand.
		carol = start(t, "call (answer)", nil, append(callArgs, "--duration", "1s")...)
		p.waitJS(`getComputedStyle(document.getElementById("incoming")).display !== "none"`, "the Answer/Reject prompt")
		p.click("answer")
		p.waitState("Connected")
		if code := carol.wait(pageTimeout); code != 0 {
			t.Errorf("answered caller exit %d, want 0", code)
		}
		p.waitState("Ended")

		// Nobody answers: the caller gives up and the page shows Cancelled.
		carol = start(t, "call (give up)", nil, append(callArgs, "--answer-timeout", "1s")...)
		p.waitJS(`getComputedStyle(document.getElementById("incoming")).display !== "none"`, "the Answer/Reject prompt")
		p.waitState("Cancelled")
		p.waitMessage("Call state changed from Ringing to Cancelled (408 no answer within 1s)")
		if p.eval(`getComputedStyle(document.getElementById("incoming")).display`) != "none" {
			t.Errorf("prompt still shown after the caller gave up")
		}
		if code := carol.wait(pageTimeout); code != 5 {
			t.Errorf("caller that gave up exit %d, want 5", code)
		}
	})

	t.Run("token-based calls", func(t *testing.T) {
		// The real token server and a signaling server that requires
		// tokens (its own page), with an answerer registered by token.
		tdir := t.TempDir()
		keyFile := writeTestFile(t, tdir, "realm.key", e2eKey+"\n")
		ts := start(t, "serve (tokens)", []string{"CALLSTAT_TOKEN_KEY=" + e2eKey}, "serve", "--listen", "127.0.0.1:0", "--realm", e2eRealm)
		tWS := ts.waitLog(10*time.Second, "signaling server listening", nil)["ws"].(string)
		tPage := pageURL(tWS)
		tok := start(t, "token serve", nil, "token", "serve", "--listen", "127.0.0.1:0", "--realm", e2eRealm, "--key-file", keyFile,
			"--account", "web6@example.com", "--callee", "sip:alice6@example.com", "--allowed-origin", strings.TrimSuffix(tPage, "/"))
		tokenURL := tok.waitLog(10*time.Second, "token server listening", nil)["url"].(string)
		alice := start(t, "answer (tokens)", nil, "answer", "--token-url", tokenURL, "--server", tWS, "--store", filepath.Join(tdir, "alice6.db"),
			"--ice-loopback", "--audio", "tone", "--max-calls", "1", "--duration", "1s")
		alice.waitLog(10*time.Second, "registered", map[string]any{"participant": "sip:alice6@example.com"})

		p := openPage(t, b, tPage)
		sent := p.recordFrames()
		shown := func(id string) bool {
			return p.eval(fmt.Sprintf(`getComputedStyle(document.getElementById(%q)).display`, id)) != "none"
		}
		if shown("token-section") || !shown("caller-section") || !shown("callee-section") {
			t.Errorf("without token-based call: token URL shown %v, caller %v, callee %v; want hidden, shown, shown",
				shown("token-section"), shown("caller-section"), shown("callee-section"))
		}

		// A call without tokens is refused by the server.
		p.fill("caller", "sip:web6@example.com")
		p.fill("callee", "sip:alice6@example.com")
		p.click("make-call")
		p.waitState("Ended")
		p.waitMessage("(call:7)")

		p.setChecked("token-call", true)
		if !shown("token-section") || shown("caller-section") || shown("callee-section") {
			t.Errorf("token-based call: token URL shown %v, caller %v, callee %v; want shown, hidden, hidden",
				shown("token-section"), shown("caller-section"), shown("callee-section"))
		}
		// A token server that cannot be reached: a clear message and no call.
		refusedID := p.callID()
		closed := closedURL(t) + "/callparameters"
		p.expectConsoleError("ERR_CONNECTION_REFUSED")
		p.fill("token-url", closed)
		p.click("make-call")
		p.waitMessage("Error: could not get call parameters from " + closed + ": Failed to fetch")
		p.waitJS(`!document.getElementById("make-call").disabled`, "Make Call to be enabled again")
		if got := p.callID(); got != refusedID {
			t.Errorf("a call %s was placed without parameters", got)
		}

		// With the token server's parameters the call goes through.
		p.fill("token-url", tokenURL)
		p.click("make-call")
		p.waitState("Connected")
		p.waitState("Ended")
		p.waitMessage("Got Realm:         " + e2eRealm)
		p.waitMessage("Call state changed from Connected to Ended (200 answerer duration 1s reached)")
		if code := alice.wait(pageTimeout); code != 0 {
			t.Errorf("answerer exit %d", code)
		}
		calls := sent.ofType("call")
		if len(calls) != 2 {
			t.Fatalf("page sent %d call messages, want 2 (refused, token-based)", len(calls))
		}
		if _, ok := calls[0]["credentials"]; ok {
			t.Errorf("regular call sent credentials: %v", calls[0])
		}
		m := calls[1]
		creds, _ := m["credentials"].(map[string]any)
		hexToken := regexp.MustCompile(`^[0-9A-Za-z]{32,}$`)
		if m["from"] != "sip:web6@example.com" || m["to"] != "sip:alice6@example.com" || creds["realm"] != e2eRealm {
			t.Errorf("token-based call message from=%v to=%v credentials=%v", m["from"], m["to"], creds)
		}
		for _, k := range []string{"accountToken", "fromToken", "toToken"} {
			if v, _ := creds[k].(string); !hexToken.MatchString(v) {
				t.Errorf("credentials.%s = %q", k, v)
			}
		}

		// The page registers by token, and a token-based callstat call
		// reaches it.
		p.fill("register-as", "sip:alice6@example.com")
		p.click("register")
		p.waitMessage("Error: could not register as sip:alice6@example.com:")
		resp, err := http.Get(tokenURL)
		if err != nil {
			t.Fatal(err)
		}
		var params struct{ ToToken string }
		err = json.NewDecoder(resp.Body).Decode(&params)
		_ = resp.Body.Close()
		if err != nil || params.ToToken == "" {
			t.Fatalf("token server answered %v, %v", params, err)
		}
		p.fill("register-token", params.ToToken)
		p.register("sip:alice6@example.com", true)
		_, stderr, code := run(t, pageTimeout, "call", "--token-url", tokenURL, "--server", tWS, "--store", filepath.Join(tdir, "web6.db"),
			"--ice-loopback", "--audio", "tone", "--duration", "1s")
		if code != 0 {
			t.Fatalf("token-based call to the page: exit %d; stderr:\n%s", code, stderr)
		}
		p.waitMessage("Received incoming call from sip:web6@example.com to sip:alice6@example.com")
		p.waitMessage("Call state changed from Connected to Ended (200 call duration 1s reached)")
	})
}

// A registered page whose signaling server dies registers again once the
// server is back, and calls reach it; when the server stays away it gives
// up after its attempts and says so.
func TestBrowserReregisters(t *testing.T) {
	t.Parallel()
	addr, wsURL, srv := serverOnFixedPort(t)
	b := startBrowser(t)

	t.Run("server back: registered again, a call reaches the page", func(t *testing.T) {
		p := openPage(t, b, pageURL(wsURL)+"?reconnectDelay=300&reconnectAttempts=10")
		p.register("web8@example.com", true)
		p.expectConsoleError("WebSocket connection to") // the attempts while the server is down
		srv.signal(syscall.SIGKILL)
		srv.wait(10 * time.Second)
		p.waitMessage("signaling connection lost: registering as web8@example.com again once the server is back.")
		p.waitMessage("Reconnecting to the signaling server (attempt 1 of 10).")
		back := serveAt(t, addr)
		p.waitMessage("Registered as web8@example.com again: calls to web8@example.com reach this page.")
		back.waitLog(pageTimeout, "participant registered", map[string]any{"user": "web8@example.com"})
		_, stderr, code := run(t, pageTimeout, "call", "web8@example.com", "--from", "bob8@example.com", "--server", wsURL,
			"--store", filepath.Join(t.TempDir(), "bob8.db"), "--ice-loopback", "--audio", "tone", "--duration", "1s")
		if code != 0 {
			t.Fatalf("call to the page after the restart: exit %d\n%s", code, stderr)
		}
		p.waitMessage("Call state changed from Connected to Ended (200 call duration 1s reached)")
	})

	t.Run("server gone: gives up after its attempts", func(t *testing.T) {
		srv := serveAt(t, addr) // the first subtest's server stopped with it
		p := openPage(t, b, pageURL(wsURL)+"?reconnectDelay=100&reconnectAttempts=2")
		p.register("web9@example.com", true)
		p.expectConsoleError("WebSocket connection to")
		srv.signal(syscall.SIGKILL)
		srv.wait(10 * time.Second)
		p.waitMessage("Reconnecting to the signaling server (attempt 2 of 2).")
		p.waitMessage("gave up reconnecting after 2 attempts: no longer registered as web9@example.com; register again.")
		if got := p.eval(`document.getElementById("registered-as").textContent`); got != "" {
			t.Errorf("page still shows %q", got)
		}
	})
}
