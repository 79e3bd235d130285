package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The webrtc-internals dump is the file Chrome's chrome://webrtc-internals
// page downloads, which existing viewers import (REFERENCE §2). It is the
// stats file transposed: one series per "<statsId>-<property>" holding
// that property's value in every sample, so it is written one call at a
// time, each call's series built in memory and capped, as Chrome caps
// them, to the last MaxInternalsPoints values.

// MaxInternalsPoints is how many values a series keeps: Chrome's limit.
const MaxInternalsPoints = 1000

// UABrand is one entry of the dump's UserAgentData.
type UABrand struct {
	Brand   string `json:"brand"`
	Version string `json:"version"`
}

// InternalsEvent is one entry of a PeerConnection's updateLog. Time is the
// ISO form of Timestamp, which older importers read.
type InternalsEvent struct {
	Time      string  `json:"time"`
	Type      string  `json:"type"`
	Value     string  `json:"value"`
	Timestamp float64 `json:"timestamp"`
}

// InternalsSeries is one "<statsId>-<property>" entry of a dump.
type InternalsSeries struct {
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
	StatsType string `json:"statsType"`
	Values    string `json:"values"` // a JSON array, as a string
}

// Decode returns the series' values.
func (s InternalsSeries) Decode() ([]json.RawMessage, error) {
	var vs []json.RawMessage
	if err := json.Unmarshal([]byte(s.Values), &vs); err != nil {
		return nil, fmt.Errorf("stats: series values %q: %w", s.Values, err)
	}
	return vs, nil
}

// InternalsPeerConnection is one entry of a dump's PeerConnections.
type InternalsPeerConnection struct {
	PID              int                        `json:"pid"`
	URL              string                     `json:"url"`
	RTCConfiguration string                     `json:"rtcConfiguration"`
	Constraints      string                     `json:"constraints"`
	UpdateLog        []InternalsEvent           `json:"updateLog"`
	Stats            map[string]InternalsSeries `json:"stats"`
}

// InternalsDump is a whole webrtc-internals dump, as readInternals reads
// it back.
type InternalsDump struct {
	GetUserMedia    []json.RawMessage                  `json:"getUserMedia"`
	PeerConnections map[string]InternalsPeerConnection `json:"PeerConnections"`
	UserAgent       string                             `json:"UserAgent"`
	UserAgentData   []UABrand                          `json:"UserAgentData"`
}

// ErrNotInternalsDump means data is not a webrtc-internals dump.
var ErrNotInternalsDump = errors.New("not a webrtc-internals dump")

// readInternals decodes a dump. Importers reject a dump without
// UserAgentData, and so does this.
func readInternals(r io.Reader) (*InternalsDump, error) {
	var d InternalsDump
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInternalsDump, err)
	}
	if d.PeerConnections == nil || d.UserAgentData == nil {
		return nil, fmt.Errorf("%w: PeerConnections or UserAgentData missing", ErrNotInternalsDump)
	}
	return &d, nil
}

// SplitSeriesKey splits "<statsId>-<property>" at its last dash: stats ids
// hold dashes, property names never do.
func SplitSeriesKey(key string) (id, property string) {
	i := strings.LastIndexByte(key, '-')
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// isoTime formats ms since the epoch as Chrome does (toISOString).
func isoTime(ms float64) string {
	return time.UnixMicro(int64(ms * 1000)).UTC().Format("2006-01-02T15:04:05.000Z")
}

// series is one property's values, a ring of at most MaxInternalsPoints.
type series struct {
	statsType string
	values    []json.RawMessage
	times     []float64
	head      int // index of the oldest value once the ring is full
}

func (s *series) add(v json.RawMessage, at float64) {
	if len(s.values) < MaxInternalsPoints {
		s.values = append(s.values, v)
		s.times = append(s.times, at)
		return
	}
	s.values[s.head], s.times[s.head] = v, at
	s.head = (s.head + 1) % MaxInternalsPoints
}

func (s *series) ordered() ([]json.RawMessage, float64, float64) {
	vs := append(append([]json.RawMessage(nil), s.values[s.head:]...), s.values[:s.head]...)
	first := s.times[s.head]
	last := s.times[(s.head+len(s.times)-1)%len(s.times)]
	return vs, first, last
}

// InternalsCall accumulates one call's samples into series, in the order
// their keys first appear.
type InternalsCall struct {
	series    map[string]*series
	keys      []string
	events    []InternalsEvent
	lastState string
	truncated bool
	// Platform is the first SDK entry's platform, for the UserAgent.
	Platform string
}

// NewInternalsCall returns an empty accumulator.
func NewInternalsCall() *InternalsCall {
	return &InternalsCall{series: map[string]*series{}}
}

// Truncated reports whether a series held more than MaxInternalsPoints
// values, so that its oldest ones were dropped.
func (c *InternalsCall) Truncated() bool { return c.truncated }

// AddEvent adds an updateLog entry.
func (c *InternalsCall) AddEvent(at time.Time, typ, value string) {
	ms := float64(at.UnixNano()) / 1e6
	c.events = append(c.events, InternalsEvent{Time: isoTime(ms), Type: typ, Value: value, Timestamp: ms})
}

// AddSample adds one stored sample (a JSON array of objects): every
// property of every object joins its series, the object's timestamp the
// "<id>-timestamp" series. A change of the SDK entry's call state becomes
// an updateLog entry.
func (c *InternalsCall) AddSample(body []byte) error {
	var objs []map[string]json.RawMessage
	if err := json.Unmarshal(body, &objs); err != nil {
		return fmt.Errorf("stats: decoding sample: %w", err)
	}
	for _, o := range objs {
		var id, typ string
		if err := json.Unmarshal(o["id"], &id); err != nil || id == "" {
			continue // not a stats object: nothing to key it by
		}
		_ = json.Unmarshal(o["type"], &typ)
		var ts float64
		_ = json.Unmarshal(o["timestamp"], &ts)
		if strings.HasSuffix(typ, "_sdk_info") {
			c.sdkEntry(o, ts)
		}
		props := make([]string, 0, len(o))
		for k := range o {
			if k != "id" && k != "type" && k != "timestamp" {
				props = append(props, k)
			}
		}
		sort.Strings(props)
		if _, ok := o["timestamp"]; ok {
			c.add(id+"-timestamp", typ, o["timestamp"], ts)
		}
		for _, k := range props {
			c.add(id+"-"+k, typ, o[k], ts)
		}
	}
	return nil
}

func (c *InternalsCall) sdkEntry(o map[string]json.RawMessage, ts float64) {
	var state, platform string
	_ = json.Unmarshal(o["state"], &state)
	_ = json.Unmarshal(o["platform"], &platform)
	if c.Platform == "" {
		c.Platform = platform
	}
	if state != "" && state != c.lastState {
		c.lastState = state
		c.events = append(c.events, InternalsEvent{Time: isoTime(ts), Type: "callStateChange", Value: state, Timestamp: ts})
	}
}

func (c *InternalsCall) add(key, typ string, v json.RawMessage, ts float64) {
	s, ok := c.series[key]
	if !ok {
		s = &series{statsType: typ}
		c.series[key] = s
		c.keys = append(c.keys, key)
	}
	if len(s.values) == MaxInternalsPoints {
		c.truncated = true
	}
	s.add(v, ts)
}

// InternalsWriter streams a dump: Begin, one WritePeerConnection per call,
// End. Only one call's series are in memory at a time.
type InternalsWriter struct {
	w     io.Writer
	calls int
}

// NewInternalsWriter returns a writer on w.
func NewInternalsWriter(w io.Writer) *InternalsWriter { return &InternalsWriter{w: w} }

// Begin writes the head of the dump. callstat has no getUserMedia calls to
// report: its audio comes from its own sources.
func (iw *InternalsWriter) Begin() error {
	_, err := io.WriteString(iw.w, `{"getUserMedia":[],"PeerConnections":{`)
	return err
}

// InternalsConnection describes a call's PeerConnection entry.
type InternalsConnection struct {
	Key              string // "<n>-<callId>"
	URL              string
	RTCConfiguration string
}

// WritePeerConnection writes one call's entry.
func (iw *InternalsWriter) WritePeerConnection(conn InternalsConnection, c *InternalsCall) error {
	var b bytes.Buffer
	if iw.calls > 0 {
		b.WriteByte(',')
	}
	iw.calls++
	writeJSON(&b, conn.Key)
	b.WriteString(`:{"pid":0,"url":`)
	writeJSON(&b, conn.URL)
	b.WriteString(`,"rtcConfiguration":`)
	writeJSON(&b, conn.RTCConfiguration)
	b.WriteString(`,"constraints":"","updateLog":`)
	events := append([]InternalsEvent(nil), c.events...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Timestamp < events[j].Timestamp })
	if events == nil {
		events = []InternalsEvent{}
	}
	writeJSON(&b, events)
	b.WriteString(`,"stats":{`)
	if _, err := iw.w.Write(b.Bytes()); err != nil {
		return err
	}
	// One series at a time: the values of a long call stay out of any
	// second buffer.
	for i, key := range c.keys {
		b.Reset()
		if i > 0 {
			b.WriteByte(',')
		}
		s := c.series[key]
		vs, first, last := s.ordered()
		var arr bytes.Buffer
		arr.WriteByte('[')
		for j, v := range vs {
			if j > 0 {
				arr.WriteByte(',')
			}
			arr.Write(v)
		}
		arr.WriteByte(']')
		writeJSON(&b, key)
		b.WriteString(`:{"startTime":`)
		writeJSON(&b, isoTime(first))
		b.WriteString(`,"endTime":`)
		writeJSON(&b, isoTime(last))
		b.WriteString(`,"statsType":`)
		writeJSON(&b, s.statsType)
		b.WriteString(`,"values":`)
		writeJSON(&b, arr.String())
		b.WriteByte('}')
		if _, err := iw.w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	_, err := io.WriteString(iw.w, "}}")
	return err
}

// End writes the tail: who made the dump.
func (iw *InternalsWriter) End(userAgent string, brands []UABrand) error {
	var b bytes.Buffer
	b.WriteString(`},"UserAgent":`)
	writeJSON(&b, userAgent)
	b.WriteString(`,"UserAgentData":`)
	if brands == nil {
		brands = []UABrand{}
	}
	writeJSON(&b, brands)
	b.WriteString("}\n")
	_, err := iw.w.Write(b.Bytes())
	return err
}

// writeJSON appends v's JSON encoding. Values here are strings, events and
// brands, which always encode.
func writeJSON(b *bytes.Buffer, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(strconv.Quote(fmt.Sprint(v)))
	}
	b.Write(data)
}
