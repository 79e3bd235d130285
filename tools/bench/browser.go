package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/callstat/callstat/internal/testkit/chromium"
)

// browser is one headless Chromium.
type browser struct {
	ctx    context.Context
	cancel func()
	pid    int
}

// startChromium starts Chromium headless with a fake microphone (a beep),
// as cmd/callstat/browser_test.go does.
func startChromium(ctx context.Context, profileDir string) (*browser, error) {
	path, err := chromium.Find()
	if err != nil {
		return nil, err
	}
	opts := append(chromium.Options(path, profileDir),
		// Background tabs keep their timers and media at full rate: every
		// tab here is a softphone in a call.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		cancelAlloc()
		return nil, fmt.Errorf("starting Chromium: %w", err)
	}
	b := &browser{ctx: bctx, cancel: func() { cancel(); cancelAlloc() }}
	if c := chromedp.FromContext(bctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		b.pid = c.Browser.Process().Pid
	}
	if b.pid == 0 {
		b.cancel()
		return nil, fmt.Errorf("no Chromium process")
	}
	return b, nil
}

// tab is one page of the softphone.
type tab struct{ ctx context.Context }

func (b *browser) open(url string) (*tab, error) {
	ctx, _ := chromedp.NewContext(b.ctx) // closed with the browser
	if err := chromedp.Do(ctx); err != nil {
		return nil, err
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return nil, err
	}
	t := &tab{ctx: ctx}
	return t, t.wait(`window.callstat !== undefined`, 30*time.Second)
}

// wait polls expr until it is true. Through the DevTools protocol: the
// page's Content-Security-Policy refuses chromedp.Poll's in-page code.
func (t *tab) wait(expr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("Boolean(%s)", expr))); err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			msgs, _ := chromedp.Run(t.ctx, chromedp.Evaluate[string](`document.getElementById("messages").innerText`))
			return fmt.Errorf("waiting for %s: %w; page messages:\n%s", expr, ctx.Err(), msgs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *tab) do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func (t *tab) register(id string) error {
	if err := t.do(chromedp.SetValue(chromedp.ID("register-as"), id)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("auto-answer").checked = true`)); err != nil {
		return err
	}
	if err := t.do(chromedp.Click(chromedp.ID("register"), chromedp.NodeVisible)); err != nil {
		return err
	}
	return t.wait(fmt.Sprintf(`document.getElementById("messages").innerText.includes(%q)`, "Registered as "+id), 30*time.Second)
}

func (t *tab) call(from, to string) error {
	return t.do(chromedp.SetValue(chromedp.ID("caller"), from), chromedp.SetValue(chromedp.ID("callee"), to),
		chromedp.Click(chromedp.ID("make-call"), chromedp.NodeVisible))
}

func (t *tab) connected() error {
	return t.wait(`document.getElementById("call-state").textContent === "Connected"`, 60*time.Second)
}

func (t *tab) hangUp() {
	_ = t.do(chromedp.Click(chromedp.ID("end-call"), chromedp.NodeVisible))
}

// side is one end of the calls of a comparison: what it used while idle
// and while the calls were up.
type side struct {
	name        string
	sides       int // call ends it carried
	idle, busy  float64
	idlePSS     int64 // KiB
	busyPSS     int64
	processes   int
	description string
}

func (s side) cpuPerSide() float64 { return (s.busy - s.idle) / float64(s.sides) }
func (s side) pssPerSide() float64 { return float64(s.busyPSS-s.idlePSS) / float64(s.sides) }

// window measures pids (and their children) over d.
func window(ctx context.Context, pids []int, d time.Duration) (float64, int64, int, error) {
	a := measure(pids, true)
	if err := sleep(ctx, d); err != nil {
		return 0, 0, 0, err
	}
	b := measure(pids, true)
	return cores(a, b), b.pssKiB, b.process, nil
}

// idle measures a browser with its tabs open, once the loading is over.
func idle(ctx context.Context, pid int, settle time.Duration) (float64, int64, error) {
	if err := sleep(ctx, settle); err != nil {
		return 0, 0, err
	}
	cpu, pss, _, err := window(ctx, []int{pid}, settle)
	return cpu, pss, err
}

// comparison is the same call between callstat and Chromium, and between
// two Chromium pages, each measured per call end.
type comparison struct {
	calls           int
	settle, length  time.Duration
	browserCallstat struct{ chromium, callstat side }
	browserBrowser  side
	callstatPair    side
}

// compare runs the three setups with n calls each, against one server and
// one answerer.
func compare(ctx context.Context, binary, dir string, n int, settle, length time.Duration) (comparison, error) {
	cmp := comparison{calls: n, settle: settle, length: length}
	srv, err := startServer(ctx, binary)
	if err != nil {
		return cmp, err
	}
	defer srv.p.stop()
	ans, err := start(ctx, binary, "answer", nil, "answer", "--as", "alice@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "cmp-alice.db"), "--audio", "tone", "--ice-loopback")
	if err != nil {
		return cmp, err
	}
	defer ans.stop()
	if _, err := ans.waitLog(10*time.Second, "registered"); err != nil {
		return cmp, err
	}
	if cmp.callstatPair, err = compareCallstat(ctx, binary, dir, srv, ans, n, settle, length); err != nil {
		return cmp, err
	}
	if cmp.browserCallstat.chromium, cmp.browserCallstat.callstat, err = compareBrowserCallstat(ctx, dir, srv, ans, n, settle, length); err != nil {
		return cmp, err
	}
	cmp.browserBrowser, err = compareBrowsers(ctx, dir, srv, n, settle, length)
	return cmp, err
}

// compareCallstat measures n calls each way between one `call` process and
// the answerer, both decoding what they receive as a browser does.
func compareCallstat(ctx context.Context, binary, dir string, srv *server, ans *proc, n int, settle, length time.Duration) (side, error) {
	// Idle, two processes of the same binary share its pages (PSS splits
	// them): an idle second one stands for the caller until it starts.
	other, err := start(ctx, binary, "answer", nil, "answer", "--as", "idle@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "cmp-idle.db"), "--audio", "tone", "--ice-loopback")
	if err != nil {
		return side{}, err
	}
	if _, err := other.waitLog(10*time.Second, "registered"); err != nil {
		other.stop()
		return side{}, err
	}
	idleCPU, idlePSS, _, err := window(ctx, []int{ans.pid(), other.pid()}, settle)
	other.stop()
	if err != nil {
		return side{}, err
	}
	caller, err := start(ctx, binary, "call", nil, "call", "alice@example.com", "--from", "bob@example.com", "--server", srv.url,
		"--store", filepath.Join(dir, "cmp-bob.db"), "--audio", "tone:880", "--ice-loopback", "--calls", strconv.Itoa(n),
		"--concurrency", strconv.Itoa(n), "--decode", "--duration", (2*settle + length + 5*time.Second).String())
	if err != nil {
		return side{}, err
	}
	defer caller.stop()
	if err := sleep(ctx, settle+2*time.Second); err != nil {
		return side{}, err
	}
	busy, pss, procs, err := window(ctx, []int{ans.pid(), caller.pid()}, length)
	if err != nil {
		return side{}, err
	}
	s := side{name: "callstat ↔ callstat", sides: 2 * n, idle: idleCPU, busy: busy, idlePSS: idlePSS,
		busyPSS: pss, processes: procs, description: fmt.Sprintf("one `answer` and one `call --calls %d --decode` process", n)}
	return s, caller.wait(2 * time.Minute)
}

// compareBrowserCallstat measures n Chromium pages calling the answerer:
// Chromium's side and callstat's, over the same window.
func compareBrowserCallstat(ctx context.Context, dir string, srv *server, ans *proc, n int, settle, length time.Duration) (chromium, callstat side, err error) {
	b, err := startChromium(ctx, filepath.Join(dir, "chromium-1"))
	if err != nil {
		return side{}, side{}, err
	}
	defer b.cancel()
	tabs := make([]*tab, n)
	for i := range tabs {
		if tabs[i], err = b.open(srv.pageURL()); err != nil {
			return side{}, side{}, err
		}
	}
	bIdle, bIdlePSS, err := idle(ctx, b.pid, settle)
	if err != nil {
		return side{}, side{}, err
	}
	aIdle, aIdlePSS, _, err := window(ctx, []int{ans.pid()}, time.Second)
	if err != nil {
		return side{}, side{}, err
	}
	for i, t := range tabs {
		if err := t.call(fmt.Sprintf("page-%d@example.com", i), "alice@example.com"); err != nil {
			return side{}, side{}, err
		}
	}
	for _, t := range tabs {
		if err := t.connected(); err != nil {
			return side{}, side{}, err
		}
	}
	defer func() {
		for _, t := range tabs {
			t.hangUp()
		}
	}()
	if err := sleep(ctx, settle); err != nil {
		return side{}, side{}, err
	}
	pidsB, pidsA := []int{b.pid}, []int{ans.pid()}
	ua0, ub0 := measure(pidsA, false), measure(pidsB, true)
	if err := sleep(ctx, length); err != nil {
		return side{}, side{}, err
	}
	ua1, ub1 := measure(pidsA, false), measure(pidsB, true)
	chromium = side{name: "Chromium (calling callstat)", sides: n, idle: bIdle, busy: cores(ub0, ub1),
		idlePSS: bIdlePSS, busyPSS: ub1.pssKiB, processes: ub1.process, description: fmt.Sprintf("%d tabs of the page", n)}
	callstat = side{name: "callstat (answering Chromium)", sides: n, idle: aIdle, busy: cores(ua0, ua1),
		idlePSS: aIdlePSS, busyPSS: ua1.pssKiB, processes: 1, description: "one `answer` process"}
	return chromium, callstat, nil
}

// compareBrowsers measures n Chromium pages calling n others, in one
// browser.
func compareBrowsers(ctx context.Context, dir string, srv *server, n int, settle, length time.Duration) (side, error) {
	b, err := startChromium(ctx, filepath.Join(dir, "chromium-2"))
	if err != nil {
		return side{}, err
	}
	defer b.cancel()
	callers, callees := make([]*tab, n), make([]*tab, n)
	for i := range n {
		if callees[i], err = b.open(srv.pageURL()); err != nil {
			return side{}, err
		}
		if err := callees[i].register(fmt.Sprintf("callee-%d@example.com", i)); err != nil {
			return side{}, err
		}
		if callers[i], err = b.open(srv.pageURL()); err != nil {
			return side{}, err
		}
	}
	bIdle, bIdlePSS, err := idle(ctx, b.pid, settle)
	if err != nil {
		return side{}, err
	}
	for i, t := range callers {
		if err := t.call(fmt.Sprintf("caller-%d@example.com", i), fmt.Sprintf("callee-%d@example.com", i)); err != nil {
			return side{}, err
		}
	}
	for _, t := range append(callers, callees...) {
		if err := t.connected(); err != nil {
			return side{}, err
		}
	}
	defer func() {
		for _, t := range callers {
			t.hangUp()
		}
	}()
	if err := sleep(ctx, settle); err != nil {
		return side{}, err
	}
	busy, pss, procs, err := window(ctx, []int{b.pid}, length)
	if err != nil {
		return side{}, err
	}
	return side{name: "Chromium ↔ Chromium", sides: 2 * n, idle: bIdle, busy: busy, idlePSS: bIdlePSS, busyPSS: pss,
		processes: procs, description: fmt.Sprintf("%d tabs calling %d tabs, one browser", n, n)}, nil
}
