package stats_test

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/callstat/callstat/pkg/stats"
)

var testSDK = stats.SDKInfo{SDK: "callstat", Version: "1.2.3", InstanceID: "0d6f1c1e-5b1a-4a53-9a0e-3f0c3c1b7a11", Platform: "linux/amd64 go1.26"}

func TestSDKInfo(t *testing.T) {
	if got, want := testSDK.SDKEntryID(), "callstat-sdk-info_0d6f1c1e-5b1a-4a53-9a0e-3f0c3c1b7a11"; got != want {
		t.Errorf("SDKEntryID() = %q, want %q", got, want)
	}
	if got, want := testSDK.SDKEntryType(), "callstat_sdk_info"; got != want {
		t.Errorf("SDKEntryType() = %q, want %q", got, want)
	}
	kandy := stats.SDKInfo{SDK: "kandy", InstanceID: "x"}
	if got, want := kandy.SDKEntryID(), "kandy-sdk-info_x"; got != want {
		t.Errorf("kandy SDKEntryID() = %q, want %q (the seed SDK's key)", got, want)
	}
}

func TestNewSample(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_500)
	nowMs := float64(now.UnixNano()) / 1e6
	tests := []struct {
		name    string
		report  stats.Report
		wantTS  float64
		wantLen int
	}{
		{
			name: "timestamp copied from the first object",
			report: stats.Report{State: "Connected", Objects: []stats.Object{
				{"id": "PC", "type": "peer-connection", "timestamp": 1_700_000_000_123.0},
				{"id": "T", "type": "transport", "timestamp": 1_700_000_000_999.0},
			}},
			wantTS:  1_700_000_000_123,
			wantLen: 3,
		},
		{
			name:    "no objects: now",
			report:  stats.Report{State: "Ringing"},
			wantTS:  nowMs,
			wantLen: 1,
		},
		{
			name:    "first object without timestamp: now",
			report:  stats.Report{State: "Connected", Objects: []stats.Object{{"id": "PC", "type": "peer-connection"}}},
			wantTS:  nowMs,
			wantLen: 2,
		},
		{
			name:    "in-memory integer timestamp",
			report:  stats.Report{State: "Connected", Objects: []stats.Object{{"id": "X", "type": "codec", "timestamp": int64(42)}}},
			wantTS:  42,
			wantLen: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stats.NewSample(testSDK, "call-1", "bob", 7, now, tt.report)
			if s.CallID != "call-1" || s.Participant != "bob" || s.Seq != 7 || !s.Time.Equal(now) {
				t.Errorf("sample header = %q %q %d %v", s.CallID, s.Participant, s.Seq, s.Time)
			}
			if len(s.Objects) != tt.wantLen {
				t.Fatalf("len(Objects) = %d, want %d", len(s.Objects), tt.wantLen)
			}
			want := stats.Object{
				"id":        "callstat-sdk-info_" + testSDK.InstanceID,
				"type":      "callstat_sdk_info",
				"sdk":       "callstat",
				"version":   "1.2.3",
				"callId":    "call-1",
				"platform":  testSDK.Platform,
				"timestamp": tt.wantTS,
				"state":     tt.report.State,
			}
			if !reflect.DeepEqual(s.Objects[0], want) {
				t.Errorf("SDK entry = %v\nwant        %v", s.Objects[0], want)
			}
			if !stats.IsSDKEntry(s.Objects[0]) {
				t.Error("IsSDKEntry(first object) = false")
			}
			for i, o := range tt.report.Objects {
				if !reflect.DeepEqual(s.Objects[i+1], o) {
					t.Errorf("object %d = %v, want the report's %v", i+1, s.Objects[i+1], o)
				}
			}
		})
	}
}

// A value JSON cannot carry must not make the sample unstorable.
func TestNewSampleNonFinite(t *testing.T) {
	in := stats.Object{"id": "R", "type": "remote-inbound-rtp", "jitter": math.Inf(1), "fractionLost": math.NaN(), "packetsLost": int64(3)}
	s := stats.NewSample(testSDK, "c", "p", 0, time.UnixMilli(1), stats.Report{Objects: []stats.Object{in}})
	data, err := json.Marshal(s.Objects)
	if err != nil {
		t.Fatalf("json.Marshal(sample) = %v", err)
	}
	var back []stats.Object
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	got := back[1]
	if got["jitter"] != nil || got["fractionLost"] != nil {
		t.Errorf("non-finite values = %v, %v; want null", got["jitter"], got["fractionLost"])
	}
	if v, _ := got.Number("packetsLost"); v != 3 {
		t.Errorf("packetsLost = %v, want 3", v)
	}
	if !math.IsInf(in["jitter"].(float64), 1) {
		t.Error("NewSample modified the caller's object")
	}
}

func TestObjectNumber(t *testing.T) {
	tests := []struct {
		value  any
		want   float64
		wantOK bool
	}{
		{1.5, 1.5, true},
		{float32(0.25), 0.25, true},
		{json.Number("12"), 12, true},
		{json.Number("x"), 0, false},
		{int(-3), -3, true},
		{int32(-4), -4, true},
		{int64(5), 5, true},
		{uint16(6), 6, true},
		{uint32(7), 7, true},
		{uint64(8), 8, true},
		{"9", 0, false},
		{nil, 0, false},
		{true, 0, false},
	}
	for _, tt := range tests {
		got, ok := stats.Object{"v": tt.value}.Number("v")
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Number(%T %v) = %v, %v; want %v, %v", tt.value, tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := (stats.Object{}).Number("missing"); ok {
		t.Error("Number(missing) reported present")
	}
}

func TestSortObjects(t *testing.T) {
	objs := []stats.Object{
		{"id": "zz", "type": "track"},
		{"id": "IT01A", "type": "inbound-rtp"},
		{"id": "sctp", "type": "sctp-transport"},
		{"id": "RI1", "type": "remote-inbound-rtp"},
		{"id": "OT1", "type": "outbound-rtp"},
		{"id": "aa", "type": "stream"},
		{"id": "CP2", "type": "candidate-pair"},
		{"id": "CP1", "type": "candidate-pair"},
		{"id": "RC", "type": "remote-candidate"},
		{"id": "LC", "type": "local-candidate"},
		{"id": "CERT", "type": "certificate"},
		{"id": "CODEC", "type": "codec"},
		{"id": "T", "type": "transport"},
		{"id": "DC", "type": "data-channel"},
		{"id": "PC", "type": "peer-connection"},
		{"id": "IT00B", "type": "inbound-rtp"},
	}
	stats.SortObjects(objs)
	var got []string
	for _, o := range objs {
		got = append(got, o.Type()+"/"+o.ID())
	}
	want := []string{
		"peer-connection/PC", "transport/T", "candidate-pair/CP1", "candidate-pair/CP2",
		"local-candidate/LC", "remote-candidate/RC", "certificate/CERT", "codec/CODEC",
		"outbound-rtp/OT1", "remote-inbound-rtp/RI1", "inbound-rtp/IT00B", "inbound-rtp/IT01A",
		"sctp-transport/sctp", "data-channel/DC",
		// Unknown types last, grouped by type, not interleaved by id.
		"stream/aa", "track/zz",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order:\n got %v\nwant %v", got, want)
	}
}

// pionReport is what pion's GetStats returns for an audio call, built from
// pion's own stats structs.
func pionReport() webrtc.StatsReport {
	ts := webrtc.StatsTimestamp(1_700_000_000_123)
	return webrtc.StatsReport{
		"inbound-rtp-1": webrtc.InboundRTPStreamStats{
			ID: "inbound-rtp-1", Type: webrtc.StatsTypeInboundRTP, Timestamp: ts,
			SSRC: 1, Kind: "audio", TransportID: "iceTransport",
			PacketsReceived: 990, PacketsLost: 10, Jitter: 0.004, BytesReceived: 80_000,
		},
		"CP": webrtc.ICECandidatePairStats{
			ID: "CP", Type: webrtc.StatsTypeCandidatePair, Timestamp: ts,
			LocalCandidateID: "LC", RemoteCandidateID: "RC", State: webrtc.StatsICECandidatePairStateSucceeded,
			Nominated: true, CurrentRoundTripTime: 0.012, PacketsSent: 1000,
		},
		"LC": webrtc.ICECandidateStats{
			ID: "LC", Type: webrtc.StatsTypeLocalCandidate, Timestamp: ts,
			IP: "127.0.0.1", Port: 5000, Protocol: "udp", CandidateType: webrtc.ICECandidateTypeHost,
		},
		"RC": webrtc.ICECandidateStats{
			ID: "RC", Type: webrtc.StatsTypeRemoteCandidate, Timestamp: ts,
			IP: "127.0.0.1", Port: 5001, Protocol: "udp", CandidateType: webrtc.ICECandidateTypeHost,
		},
		"iceTransport": webrtc.TransportStats{
			ID: "iceTransport", Type: webrtc.StatsTypeTransport, Timestamp: ts,
			BytesSent: 81_000, DTLSState: webrtc.DTLSTransportStateConnected,
		},
		"PC": webrtc.PeerConnectionStats{ID: "PC", Type: webrtc.StatsTypePeerConnection, Timestamp: ts},
		"codec": webrtc.CodecStats{
			ID: "codec", Type: webrtc.StatsTypeCodec, Timestamp: ts,
			PayloadType: 111, MimeType: "audio/opus", ClockRate: 48000, Channels: 2,
		},
		"cert": webrtc.CertificateStats{
			ID: "cert", Type: webrtc.StatsTypeCertificate, Timestamp: ts,
			Fingerprint: "aa:bb", FingerprintAlgorithm: "sha-256",
		},
		"sctpTransport": webrtc.SCTPTransportStats{ID: "sctpTransport", Type: webrtc.StatsTypeSCTPTransport, Timestamp: ts},
		// A struct whose ID was left empty keeps the report's key.
		"keyed-only": webrtc.DataChannelStats{Type: webrtc.StatsTypeDataChannel, Timestamp: ts, Label: "x"},
	}
}

func TestFromPion(t *testing.T) {
	objs, err := stats.FromPion(pionReport())
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	byID := map[string]stats.Object{}
	for _, o := range objs {
		order = append(order, o.ID())
		byID[o.ID()] = o
	}
	wantOrder := []string{"PC", "iceTransport", "CP", "LC", "RC", "cert", "codec", "inbound-rtp-1", "sctpTransport", "keyed-only"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("order = %v, want %v", order, wantOrder)
	}

	// W3C names, values as JSON numbers and strings.
	fields := []struct {
		id, field string
		want      any
	}{
		{"inbound-rtp-1", "type", "inbound-rtp"},
		{"inbound-rtp-1", "packetsReceived", 990.0},
		{"inbound-rtp-1", "packetsLost", 10.0},
		{"inbound-rtp-1", "jitter", 0.004},
		{"inbound-rtp-1", "bytesReceived", 80_000.0},
		{"inbound-rtp-1", "ssrc", 1.0},
		{"inbound-rtp-1", "kind", "audio"},
		{"inbound-rtp-1", "transportId", "iceTransport"},
		{"inbound-rtp-1", "timestamp", 1_700_000_000_123.0},
		{"CP", "type", "candidate-pair"},
		{"CP", "currentRoundTripTime", 0.012},
		{"CP", "nominated", true},
		{"CP", "state", "succeeded"},
		{"CP", "localCandidateId", "LC"},
		{"CP", "remoteCandidateId", "RC"},
		{"CP", "packetsSent", 1000.0},
		{"LC", "type", "local-candidate"},
		{"LC", "candidateType", "host"},
		{"LC", "ip", "127.0.0.1"},
		{"LC", "port", 5000.0},
		{"RC", "type", "remote-candidate"},
		{"iceTransport", "dtlsState", "connected"},
		{"iceTransport", "bytesSent", 81_000.0},
		{"codec", "mimeType", "audio/opus"},
		{"codec", "clockRate", 48000.0},
		{"codec", "payloadType", 111.0},
		{"cert", "fingerprintAlgorithm", "sha-256"},
		{"keyed-only", "type", "data-channel"},
		{"keyed-only", "label", "x"},
	}
	for _, f := range fields {
		o, ok := byID[f.id]
		if !ok {
			t.Errorf("no object %q", f.id)
			continue
		}
		if got := o[f.field]; !reflect.DeepEqual(got, f.want) {
			t.Errorf("%s.%s = %#v, want %#v", f.id, f.field, got, f.want)
		}
	}

	// No Go field names leak into the file.
	w3c := regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
	for _, o := range objs {
		for k := range o {
			if !w3c.MatchString(k) {
				t.Errorf("%s has field %q, not a W3C-style name", o.ID(), k)
			}
		}
	}
}

func TestFromPionEmpty(t *testing.T) {
	objs, err := stats.FromPion(webrtc.StatsReport{})
	if err != nil || len(objs) != 0 {
		t.Errorf("FromPion(empty) = %v, %v; want no objects", objs, err)
	}
}

func TestToObject(t *testing.T) {
	o, err := stats.ToObject(webrtc.CodecStats{ID: "c", Type: webrtc.StatsTypeCodec, ClockRate: 8000})
	if err != nil {
		t.Fatal(err)
	}
	if o.ID() != "c" || o.Type() != "codec" || o["clockRate"] != 8000.0 {
		t.Errorf("ToObject = %v", o)
	}
	var nilStats *webrtc.CodecStats
	if _, err := stats.ToObject(nilStats); err == nil {
		t.Error("ToObject(nil pointer) succeeded; want an error")
	}
	if _, err := stats.ToObject(math.NaN()); err == nil {
		t.Error("ToObject(NaN) succeeded; want an error")
	}
}
