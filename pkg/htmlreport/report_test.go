package htmlreport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstat/callstat/pkg/stats"
	"github.com/callstat/callstat/pkg/stats/store"
)

var t0 = time.UnixMilli(1_700_000_000_000)

// spike is where synthetic calls have a one-sample RTT spike: 900 ms in a
// call whose RTT is otherwise about 20 ms.
const (
	spikeAt  = 1234
	spikeRTT = 0.9
)

// synthCall is a call's samples as callstat takes them, every second:
// the SDK entry with its interval quality, and the RTP streams both ways
// with their RTCP counterparts. Figures wander with seeded noise; the RTT
// has one spike at spikeAt.
func synthCall(participant, callID string, seconds int, seed uint64) []stats.Sample {
	rng := rand.New(rand.NewPCG(seed, 1))
	info := stats.SDKInfo{SDK: "callstat", Version: "test", InstanceID: "i", Platform: "p"}
	var out []stats.Sample
	var sent, recv, lost, bytesSent, bytesRecv float64
	for i := range seconds {
		ts := t0.Add(time.Duration(i+1) * time.Second)
		rtt := 0.02 + 0.005*rng.Float64()
		if i == spikeAt {
			rtt = spikeRTT
		}
		jitter := 0.002 + 0.003*rng.Float64()
		l := float64(rng.IntN(3) / 2) // now and then a packet
		sent += 50
		recv += 50 - l
		lost += l
		bytesSent += 50 * 160
		bytesRecv += (50 - l) * 160
		ms := float64(ts.UnixMilli())
		q := stats.Quality{RTTMs: rtt * 1000, JitterMs: jitter * 1000, LossPercent: 2 * l}
		q.MOS = stats.MOS(q.RTTMs, q.JitterMs, q.LossPercent)
		objs := []stats.Object{
			{"id": "media-source-1", "type": "media-source", "timestamp": ms, "audioLevel": 0.5, "kind": "audio"},
			{"id": "outbound-rtp-1", "type": "outbound-rtp", "timestamp": ms, "packetsSent": sent, "bytesSent": bytesSent, "ssrc": 1, "kind": "audio"},
			{"id": "remote-inbound-rtp-1", "type": "remote-inbound-rtp", "timestamp": ms, "packetsReceived": sent, "packetsLost": 0.0,
				"fractionLost": 0.0, "jitter": jitter, "roundTripTime": rtt, "roundTripTimeMeasurements": float64(i + 1), "ssrc": 1},
			{"id": "inbound-rtp-2", "type": "inbound-rtp", "timestamp": ms, "packetsReceived": recv, "packetsLost": lost,
				"bytesReceived": bytesRecv, "jitter": jitter, "audioLevel": 0.3 + 0.2*rng.Float64(), "ssrc": 2, "kind": "audio"},
			{"id": "remote-outbound-rtp-2", "type": "remote-outbound-rtp", "timestamp": ms, "packetsSent": recv + lost,
				"roundTripTime": rtt, "roundTripTimeMeasurements": float64(i + 1), "ssrc": 2},
		}
		s := stats.NewSample(info, callID, participant, i, ts, stats.Report{State: "Connected", Objects: objs})
		q.SetOn(s.Objects[0])
		out = append(out, s)
	}
	return out
}

// fillStore writes calls of the given length (seconds) for participant,
// through the store's own API, as the collector would.
func fillStore(t *testing.T, path, participant string, lengths ...int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for k, n := range lengths {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", k+1)
		begin := stats.CallRecord{CallID: id, Participant: participant, Direction: "outgoing", Peer: "alice@example.com",
			StartedAt: t0, SDKVersion: "test"}
		if _, err := st.Write(ctx, stats.Batch{Begins: []stats.CallRecord{begin}}); err != nil {
			t.Fatal(err)
		}
		samples := synthCall(participant, id, n, uint64(k))
		for len(samples) > 0 {
			m := min(len(samples), 600)
			if _, err := st.Write(ctx, stats.Batch{Samples: samples[:m]}); err != nil {
				t.Fatal(err)
			}
			samples = samples[m:]
		}
		end := stats.EndRecord{CallID: id, Participant: participant, ConnectedAt: t0.Add(100 * time.Millisecond),
			EndedAt: t0.Add(time.Duration(n)*time.Second + time.Second), State: "Ended", StatusCode: 200, Reason: "call duration reached"}
		if _, err := st.Write(ctx, stats.Batch{Ends: []stats.EndRecord{end}}); err != nil {
			t.Fatal(err)
		}
	}
}

func writeReport(t *testing.T, path string, cfg Config) ([]byte, Result) {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	cfg.Store = st
	if cfg.Now.IsZero() {
		cfg.Now = t0
	}
	var b bytes.Buffer
	res, err := Write(context.Background(), &b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), res
}

// MaxBytesFiveHourCalls is the budget of a report of a full ring of five
// one-hour calls.
const MaxBytesFiveHourCalls = 1 << 20

// Five one-hour calls make a report under 1 MB, every plot of every call
// drawn, and the one-second RTT spike of each call still in its plot.
func TestReportSizeFiveHourCalls(t *testing.T) {
	// 18,000 samples through the store: the longest test here, run
	// beside the others.
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hours.db")
	fillStore(t, path, "bob@example.com", 3600, 3600, 3600, 3600, 3600)
	page, res := writeReport(t, path, Config{Version: "test"})
	t.Logf("report of 5 one-hour calls: %d bytes", len(page))
	if len(page) >= MaxBytesFiveHourCalls {
		t.Errorf("report is %d bytes, want under %d", len(page), MaxBytesFiveHourCalls)
	}
	if res.Participants != 1 || res.Calls != 5 {
		t.Errorf("result %+v, want 1 participant, 5 calls", res)
	}
	if n := strings.Count(string(page), `<svg class="plot"`); n != 5*int(numMetrics) {
		t.Errorf("%d plots, want %d", n, 5*numMetrics)
	}
	if n := strings.Count(string(page), `class="nodata"`); n != 0 {
		t.Errorf("%d series without data, want none: every figure is in the samples", n)
	}
	// The spike: in each call's RTT plot, each line reaches the top
	// of a scale that the 900 ms spike set.
	rttPlots := regexp.MustCompile(`(?s)<svg class="plot" data-metric="rtt".*?</svg>`).FindAllString(string(page), -1)
	if len(rttPlots) != 5 {
		t.Fatalf("%d RTT plots, want 5", len(rttPlots))
	}
	for i, p := range rttPlots {
		if !strings.Contains(p, `>1000.0</text>`) {
			t.Errorf("call %d: the RTT scale does not reach 1000 ms: the spike is lost", i+1)
		}
		for _, d := range regexp.MustCompile(` d="([^"]+)"`).FindAllStringSubmatch(p, -1) {
			top := topOf(t, d[1])
			want := marginTop + scale{0, 1000}.y(spikeRTT*1000)
			if top != want {
				t.Errorf("call %d: a line's highest point is at y=%d, want the spike's %d", i+1, top, want)
			}
		}
	}
}

// topOf is the smallest y a path drawn by pathData reaches.
func topOf(t *testing.T, d string) int {
	t.Helper()
	m := regexp.MustCompile(`^M(\d+) (\d+)l(.*)$`).FindStringSubmatch(d)
	if m == nil {
		t.Fatalf("path %.40q… is not M x y l …", d)
	}
	y, _ := strconv.Atoi(m[2])
	top := y
	nums := regexp.MustCompile(`-?\d+`).FindAllString(m[3], -1)
	for i := 1; i < len(nums); i += 2 {
		dy, _ := strconv.Atoi(nums[i])
		y += dy
		top = min(top, y)
	}
	return top
}

// The envelope keeps each column's smallest and largest values, in the
// order they came; a series shorter than the plot keeps every point.
func TestEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		t, v    []float64
		span    float64
		columns int
		want    []point
	}{
		{name: "empty", columns: 4},
		{name: "one point", t: []float64{1}, v: []float64{5}, span: 2, columns: 3, want: []point{{1, 5}}},
		{name: "sparse keeps every point", t: []float64{0, 1, 2}, v: []float64{3, 1, 2}, span: 2, columns: 3,
			want: []point{{0, 3}, {1, 1}, {2, 2}}},
		{name: "min before max", t: []float64{0, 0.1, 0.2, 0.3}, v: []float64{2, 1, 9, 3}, span: 1, columns: 2,
			want: []point{{0, 1}, {0, 9}}},
		{name: "max before min", t: []float64{0, 0.1, 0.2, 0.3}, v: []float64{2, 9, 1, 3}, span: 1, columns: 2,
			want: []point{{0, 9}, {0, 1}}},
		{name: "a one-sample spike in a long flat series", t: seq(10000), v: spikeSeries(10000, 5000, 100), span: 9999, columns: 10,
			want: flatWithSpike(10, 4, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := envelope(series{t: tt.t, v: tt.v}, tt.span, tt.columns)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("envelope = %v\nwant       %v", got, tt.want)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}

func spikeSeries(n, at int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = 1
	}
	out[at] = v
	return out
}

func flatWithSpike(columns, at int, v float64) []point {
	var out []point
	for x := range columns {
		if x == at {
			out = append(out, point{x, 1}, point{x, v})
			continue
		}
		out = append(out, point{x, 1})
	}
	return out
}

// The path holds exactly the points, in pixels: relative steps add up.
func TestPathData(t *testing.T) {
	sc := scale{0, 10}
	pts := []point{{0, 10}, {0, 0}, {1, 5}, {3, 5}, {4, 2.5}}
	d := pathData(pts, sc)
	m := regexp.MustCompile(`^M(\d+) (\d+)l(.*)$`).FindStringSubmatch(d)
	if m == nil {
		t.Fatalf("path %q", d)
	}
	x, _ := strconv.Atoi(m[1])
	y, _ := strconv.Atoi(m[2])
	nums := regexp.MustCompile(`-?\d+`).FindAllString(m[3], -1)
	if len(nums) != 2*(len(pts)-1) {
		t.Fatalf("path %q has %d numbers after l, want %d", d, len(nums), 2*(len(pts)-1))
	}
	for i, p := range pts {
		if i > 0 {
			dx, _ := strconv.Atoi(nums[2*i-2])
			dy, _ := strconv.Atoi(nums[2*i-1])
			x, y = x+dx, y+dy
		}
		if x != marginLeft+p.x || y != marginTop+sc.y(p.v) {
			t.Errorf("point %d at (%d, %d), want (%d, %d)", i, x, y, marginLeft+p.x, marginTop+sc.y(p.v))
		}
	}
	if got := pathData([]point{{2, 5}}, sc); got != fmt.Sprintf("M%d %dl0 0", marginLeft+2, marginTop+sc.y(5)) {
		t.Errorf("one point: %q, want a dot", got)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{
		{0, 1}, {0.7, 1}, {1, 1}, {1.01, 2}, {3, 5}, {7, 10}, {42, 50}, {900, 1000}, {0.013, 0.02},
	} {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceCeil(%g) = %g, want %g", tt.in, got, tt.want)
		}
	}
}

// Both directions of every figure are drawn from the samples: rates and
// interval loss between samples, MOS both ways.
func TestCallSeries(t *testing.T) {
	samples := synthCall("bob", "c1", 5, 1)
	cs := newCallSeries(t0)
	for _, s := range samples {
		cs.add(s.Time, s.Objects)
	}
	for m := range numMetrics {
		for d := range 2 {
			n := len(cs.lines[m][d].v)
			want := 5
			if m == MetricBitrate { // a rate needs two samples
				want = 4
			}
			if n != want {
				t.Errorf("%s %s: %d points, want %d", metrics[m].key, Direction(d), n, want)
			}
		}
	}
	// 50 packets of 160 bytes a second: 64 kbit/s sent.
	for _, v := range cs.lines[MetricBitrate][Outbound].v {
		if math.Abs(v-64) > 1e-9 {
			t.Errorf("sent bitrate %g kbit/s, want 64", v)
		}
	}
	if cs.end != 5 {
		t.Errorf("end %g s, want 5", cs.end)
	}
}

// Participants named are shown in that order; one not in the store is
// an error naming those that are.
func TestParticipants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.db")
	fillStore(t, path, "bob@example.com", 3)
	fillStore(t, path, "carol@example.com", 2, 2)
	page, res := writeReport(t, path, Config{Participants: []string{"carol@example.com", "bob@example.com"}})
	if res.Participants != 2 || res.Calls != 3 {
		t.Errorf("result %+v, want 2 participants, 3 calls", res)
	}
	if c, b := bytes.Index(page, []byte("<h2>carol@example.com")), bytes.Index(page, []byte("<h2>bob@example.com")); c < 0 || b < c {
		t.Errorf("sections out of order: carol at %d, bob at %d", c, b)
	}

	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	_, err = Write(context.Background(), io.Discard, Config{Store: st, Participants: []string{"dave@example.com"}})
	if !errors.Is(err, store.ErrNoParticipant) || !strings.Contains(err.Error(), "bob@example.com, carol@example.com") {
		t.Errorf("unknown participant: err = %v, want ErrNoParticipant naming those stored", err)
	}

	empty, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = empty.Close() }()
	if _, err := Write(context.Background(), io.Discard, Config{Store: empty}); !errors.Is(err, store.ErrNoParticipant) {
		t.Errorf("empty store: err = %v, want ErrNoParticipant", err)
	}
}

// Text from the store is escaped: a participant id cannot inject markup.
func TestEscapes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	fillStore(t, path, `<script>alert(1)</script>`, 2)
	page, _ := writeReport(t, path, Config{})
	if bytes.Contains(page, []byte("<script>")) {
		t.Error("the participant id went into the page unescaped")
	}
	if !bytes.Contains(page, []byte("&lt;script&gt;")) {
		t.Error("the participant id is missing")
	}
	_ = os.Remove(path)
}
