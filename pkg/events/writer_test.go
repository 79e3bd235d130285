package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"

	"github.com/callstat/callstat/pkg/call"
	"github.com/callstat/callstat/pkg/call/audio"
	"github.com/callstat/callstat/pkg/signaling"
	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/collect"
)

// lines is an io.Writer that keeps what is written, safe for concurrent use.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) events(t *testing.T) []Event {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	return parse(t, l.buf.Bytes())
}

// parse decodes an NDJSON stream strictly: every line one Event.
func parse(t *testing.T, data []byte) []Event {
	t.Helper()
	var out []Event
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %d is not an event: %v\n%s", i+1, err, line)
		}
		out = append(out, ev)
	}
	return out
}

func fixedNow() time.Time { return time.UnixMilli(1700000000123) }

func TestEmitWritesOneLinePerEventInOrder(t *testing.T) {
	var out lines
	w := NewWriter(&out, Config{Now: fixedNow})
	for i := 0; i < 100; i++ {
		w.Emit(Event{Type: TypeStatsReceived, CallID: fmt.Sprint(i)})
	}
	w.Emit(Event{Type: TypeStart, CallID: "x", Timestamp: 42})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs := out.events(t)
	if len(evs) != 101 {
		t.Fatalf("%d events written, want 101", len(evs))
	}
	for i := 0; i < 100; i++ {
		if evs[i].CallID != fmt.Sprint(i) || evs[i].Timestamp != 1700000000123 {
			t.Fatalf("event %d = %+v", i, evs[i])
		}
	}
	if evs[100].Timestamp != 42 {
		t.Errorf("an event's own timestamp was replaced: %d", evs[100].Timestamp)
	}
	// After Close, events are dropped and Close stays safe.
	w.Emit(Event{Type: TypeStart})
	if err := w.Close(); !errors.Is(err, ErrWrite) {
		t.Errorf("second Close after a late event = %v, want ErrWrite (dropped)", err)
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	n       int
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	b.n += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// A reader that stops reading must not hold up calls: Emit returns at once,
// extra events are dropped and counted, and Close reports it.
func TestEmitDoesNotBlockOnAStuckReader(t *testing.T) {
	bw := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := NewWriter(bw, Config{})
	w.Emit(Event{Type: TypeStart, CallID: "first"})
	<-bw.entered // the writer is now stuck in Write

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < MaxQueued+10; i++ {
			w.Emit(Event{Type: TypeStatsReceived, CallID: "c"})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Emit blocked while the reader was stuck")
	}
	close(bw.release)
	err := w.Close()
	if !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), "10 events dropped") {
		t.Errorf("Close = %v, want ErrWrite with 10 events dropped", err)
	}
	if bw.n != MaxQueued+1 {
		t.Errorf("%d events written, want %d", bw.n, MaxQueued+1)
	}
}

type failingWriter struct{ closed bool }

func (f *failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
func (f *failingWriter) Close() error              { f.closed = true; return nil }

func TestWriteFailureIsReported(t *testing.T) {
	fw := &failingWriter{}
	w := NewWriter(fw, Config{})
	w.Emit(Event{Type: TypeStart})
	err := w.Close()
	if !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want ErrWrite: disk full", err)
	}
	if !fw.closed {
		t.Error("the file was not closed")
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ev.ndjson")
	if err := os.WriteFile(path, []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Open(path, io.Discard, Config{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	w.Emit(Event{Type: TypeStart, CallID: "a"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if got := string(data); got != `{"type":"call:start","timestamp":1700000000123,"callId":"a"}`+"\n" {
		t.Errorf("file = %q (the old content must be replaced)", got)
	}

	var stdout bytes.Buffer
	w, err = Open("-", &stdout, Config{})
	if err != nil {
		t.Fatal(err)
	}
	w.Emit(Event{Type: TypeStart, CallID: "b"})
	if err := w.Close(); err != nil || !strings.Contains(stdout.String(), `"callId":"b"`) {
		t.Errorf("stdout = %q, err %v", stdout.String(), err)
	}

	if _, err := Open(filepath.Join(dir, "missing", "ev.ndjson"), io.Discard, Config{}); !errors.Is(err, ErrOpen) {
		t.Errorf("Open in a missing directory = %v, want ErrOpen", err)
	}
}

func TestErrorOf(t *testing.T) {
	tests := []struct {
		err        error
		code, name string
	}{
		{nil, "", ""},
		{fmt.Errorf("%w: x", call.ErrRejected), CodeGeneric, "rejected"},
		{fmt.Errorf("%w: ice", call.ErrMediaFailure), CodeInitMediaFailed, "media_failure"},
		{fmt.Errorf("%w: dead", call.ErrPeerLost), CodeGeneric, "peer_lost"},
		{call.ErrInvalidState, CodeInvalidState, "invalid_state"},
		{fmt.Errorf("%w: no device", audio.ErrUserMedia), CodeUserMediaError, "user_media"},
		{errors.New("other"), CodeGeneric, "generic"},
		{fmt.Errorf("%w: expired (code 65)", call.ErrAuth), CodeGeneric, "auth_refused"},
		{fmt.Errorf("%w: %w: no token (code call:7)", call.ErrRegisterFailed, call.ErrAuth), CodeGeneric, "auth_refused"},
	}
	for _, tt := range tests {
		got := ErrorOf(tt.err)
		if tt.err == nil {
			if got != nil {
				t.Errorf("ErrorOf(nil) = %+v", got)
			}
			continue
		}
		if got.Code != tt.code || got.Name != tt.name || got.Message != tt.err.Error() {
			t.Errorf("ErrorOf(%v) = %+v, want %s %s", tt.err, got, tt.code, tt.name)
		}
	}
}

// The documented line shapes round-trip: what docs/events.md shows is what
// the writer produces and a script decodes.
func TestEventJSONRoundTrip(t *testing.T) {
	f := false
	evs := []Event{
		{Type: TypeStart, Timestamp: 1, Participant: "bob", CallID: "c", Direction: "outgoing", From: "bob", To: "alice"},
		{Type: TypeStateChange, Timestamp: 2, CallID: "c", State: "Ended", Previous: &Previous{State: "Connected", LocalHold: &f, RemoteHold: &f},
			Transition: &Transition{StatusCode: 200, ReasonText: "bye"}},
		{Type: TypeMediaConnection, Timestamp: 3, CallID: "c", State: "connected", Previous: &Previous{State: "checking"}},
		{Type: TypeError, Timestamp: 4, CallID: "c", Error: &Error{Code: "call:2", Name: "rejected", Message: "m"}},
		{Type: TypeStatsReceived, Timestamp: 5, CallID: "c", Result: []stats.Object{{"id": "x", "type": "transport", "packetsSent": 3.0}}},
		{Type: TypeConnection, Timestamp: 6, Participant: "bob", State: "reconnecting", Attempt: 2, RetryIn: 10000},
	}
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got := parse(t, data)
		again, _ := json.Marshal(got[0])
		if !bytes.Equal(data, again) {
			t.Errorf("round trip changed the line:\n%s\n%s", data, again)
		}
	}
	// connection:change is about the phone, not a call.
	data, _ := json.Marshal(evs[len(evs)-1])
	if strings.Contains(string(data), "callId") || !strings.Contains(string(data), `"attempt":2,"retryIn":10000`) {
		t.Errorf("connection:change = %s", data)
	}
	// Transition keeps a zero status code: the SDK's payload always has both fields.
	data, _ = json.Marshal(Event{Type: TypeStateChange, Transition: &Transition{}})
	if !strings.Contains(string(data), `"transition":{"statusCode":0,"reasonText":""}`) {
		t.Errorf("transition = %s", data)
	}
}

// A real call over loopback: bob calls alice, alice hangs up. Both sides'
// streams hold their events in the SDK's order.
func TestStreamOfARealCall(t *testing.T) {
	lim := test.TimeOut(90 * time.Second)
	defer lim.Stop()
	report := test.CheckRoutines(t)
	defer report()

	var out lines
	w := NewWriter(&out, Config{})
	col := collect.New(collect.Config{Interval: 100 * time.Millisecond, SDK: stats.SDKInfo{SDK: "callstat", InstanceID: "i"}, OnSample: w.OnSample, OnSampleError: w.OnSampleError})
	h := newHarness(t, collectStatsHooks(t, col).Join(w.Hooks()))

	c, err := h.bob.Dial(t.Context(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.Connected(), "Connected")
	// Let the caller take a few samples, then the far end hangs up.
	deadline := time.Now().Add(20 * time.Second)
	for countType(out.events(t), "bob@example.com", TypeStatsReceived) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the caller emitted no stats events")
		}
		time.Sleep(20 * time.Millisecond)
	}
	aliceCall := h.incoming(t)
	aliceCall.Hangup("alice is done")
	waitFor(t, c.Done(), "caller Done")
	waitFor(t, aliceCall.Done(), "callee Done")
	h.close(t)
	if err := col.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	evs := out.events(t)
	bob := eventsOf(evs, "bob@example.com")
	if got, want := sequence(bob), "call:start Initiated Ringing Connected Ended"; got != want {
		t.Errorf("caller's events %q, want %q", got, want)
	}
	ended := lastOf(bob, TypeStateChange)
	if ended.Previous.State != "Connected" || ended.Transition.StatusCode != signaling.StatusNormal || ended.Transition.ReasonText != "alice is done" ||
		ended.Error != nil || *ended.Previous.LocalHold || *ended.Previous.RemoteHold {
		t.Errorf("caller's Ended event = %+v %+v %+v", ended, ended.Previous, ended.Transition)
	}
	if got, want := sequence(eventsOf(evs, "alice@example.com")), "call:receive Ringing Connected Ended"; got != want {
		t.Errorf("callee's events %q, want %q", got, want)
	}
	if countType(evs, "", TypeError) != 0 {
		t.Errorf("a normal call emitted call:error")
	}
	checkTimeline(t, bob, c.ID())
}

// checkTimeline checks what a script relies on in one side's stream.
func checkTimeline(t *testing.T, evs []Event, callID string) {
	t.Helper()
	var last int64
	var media []string
	var connectedAt, firstStats = -1, -1
	prevState := "Initiating"
	prevMedia := "new"
	for i, ev := range evs {
		if ev.CallID != callID {
			t.Errorf("event %d has callId %q, want %q", i, ev.CallID, callID)
		}
		if ev.Timestamp < last {
			t.Errorf("event %d goes back in time", i)
		}
		last = ev.Timestamp
		switch ev.Type {
		case TypeStateChange:
			if ev.Previous.State != prevState {
				t.Errorf("stateChange to %s says previous %s, but the last state was %s", ev.State, ev.Previous.State, prevState)
			}
			prevState = ev.State
			if ev.State == "Connected" {
				connectedAt = i
			}
		case TypeMediaConnection:
			if ev.Previous.State != prevMedia {
				t.Errorf("mediaConnectionChange to %s says previous %s, want %s", ev.State, ev.Previous.State, prevMedia)
			}
			prevMedia = ev.State
			media = append(media, ev.State)
		case TypeStatsReceived:
			if firstStats < 0 {
				firstStats = i
			}
			if len(ev.Result) < 2 || ev.Result[0]["type"] != "callstat_sdk_info" || ev.Result[0]["callId"] != callID {
				t.Errorf("statsReceived %d does not carry a sample of this call (%d objects)", i, len(ev.Result))
			}
		}
	}
	if !strings.Contains(strings.Join(media, " "), "checking connected") {
		t.Errorf("media states %v, want checking then connected", media)
	}
	if connectedAt < 0 || firstStats < 0 {
		t.Errorf("no Connected (%d) or no stats (%d)", connectedAt, firstStats)
	}
}

func eventsOf(evs []Event, participant string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Participant == participant {
			out = append(out, ev)
		}
	}
	return out
}

// sequence lists the call's start event and its states, in order.
func sequence(evs []Event) string {
	var out []string
	for _, ev := range evs {
		switch ev.Type {
		case TypeStart, TypeReceive:
			out = append(out, ev.Type)
		case TypeStateChange:
			out = append(out, ev.State)
		}
	}
	return strings.Join(out, " ")
}

func countType(evs []Event, participant, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ && (participant == "" || ev.Participant == participant) {
			n++
		}
	}
	return n
}

func lastOf(evs []Event, typ string) Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ {
			return evs[i]
		}
	}
	return Event{}
}
