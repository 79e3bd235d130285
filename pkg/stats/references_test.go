package stats

import (
	"errors"
	"reflect"
	"testing"
)

// fullReport is a report of a call with one stream each way, shaped as
// pkg/call builds it.
func fullReport() []Object {
	return []Object{
		{"id": "callstat-sdk-info_x", "type": "callstat_sdk_info"},
		{"id": "PC", "type": "peer-connection"},
		{"id": "T", "type": "transport", "selectedCandidatePairId": "P", "localCertificateId": "CL", "remoteCertificateId": "CR"},
		{"id": "P", "type": "candidate-pair", "transportId": "T", "localCandidateId": "L", "remoteCandidateId": "R"},
		{"id": "P2", "type": "candidate-pair", "transportId": "T", "localCandidateId": "L2", "remoteCandidateId": "R"},
		{"id": "L", "type": "local-candidate", "transportId": "T"},
		{"id": "L2", "type": "local-candidate", "transportId": "T"},
		{"id": "R", "type": "remote-candidate", "transportId": "T"},
		{"id": "CL", "type": "certificate"},
		{"id": "CR", "type": "certificate"},
		{"id": "C", "type": "codec", "transportId": "T"},
		{"id": "MS", "type": "media-source", "trackIdentifier": "local-track"},
		{"id": "MS2", "type": "media-source", "trackIdentifier": "idle-track"},
		{"id": "OUT", "type": "outbound-rtp", "transportId": "T", "codecId": "C", "mediaSourceId": "MS", "remoteId": "RI"},
		{"id": "RI", "type": "remote-inbound-rtp", "transportId": "T", "codecId": "C", "localId": "OUT"},
		{"id": "IN", "type": "inbound-rtp", "transportId": "T", "codecId": "C", "trackIdentifier": "remote-track", "remoteId": "RO"},
		{"id": "RO", "type": "remote-outbound-rtp", "transportId": "T", "codecId": "C", "localId": "IN"},
	}
}

func ids(objs []Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.ID())
	}
	return out
}

func TestNarrowToTrack(t *testing.T) {
	transportChain := []string{"T", "P", "L", "R", "CL", "CR", "C"}
	tests := []struct {
		name    string
		track   string
		want    []string // in report order
		wantErr error
	}{
		{
			name:  "local track: its outbound stream, the far end's view of it, its source",
			track: "local-track",
			want:  []string{"callstat-sdk-info_x", "T", "P", "L", "R", "CL", "CR", "C", "MS", "OUT", "RI"},
		},
		{
			name:  "remote track (the seed SDK could not find these)",
			track: "remote-track",
			want:  []string{"callstat-sdk-info_x", "T", "P", "L", "R", "CL", "CR", "C", "IN", "RO"},
		},
		{name: "a source that sends nothing has no stream", track: "idle-track", wantErr: ErrTrackNotFound},
		{name: "unknown track", track: "nope", wantErr: ErrTrackNotFound},
		{name: "empty id", track: "", wantErr: ErrTrackNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NarrowToTrack(fullReport(), tt.track)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Errorf("narrowed to %v, want %v", ids(got), tt.want)
			}
			for _, id := range transportChain {
				found := false
				for _, o := range got {
					found = found || o.ID() == id
				}
				if !found {
					t.Errorf("lacks %s of the transport chain", id)
				}
			}
			if d := danglingReferences(got); len(d) > 0 {
				t.Errorf("a narrowed report must be closed under references: %v", d)
			}
		})
	}
}

func TestNarrowWithoutSDKEntry(t *testing.T) {
	objs := fullReport()[1:]
	got, err := NarrowToTrack(objs, "remote-track")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ID() != "T" {
		t.Errorf("first object %s; nothing may be put in front", got[0].ID())
	}
}

func TestDanglingReferences(t *testing.T) {
	tests := []struct {
		name string
		objs []Object
		want []string
	}{
		{"complete report", fullReport(), nil},
		{"missing target", []Object{{"id": "OUT", "type": "outbound-rtp", "codecId": "C"}}, []string{`OUT.codecId -> "C"`}},
		{"empty reference", []Object{{"id": "T", "type": "transport", "selectedCandidatePairId": ""}}, []string{`T.selectedCandidatePairId -> ""`}},
		{
			name: "several, sorted by field",
			objs: []Object{{"id": "IN", "type": "inbound-rtp", "transportId": "T", "codecId": "C"}},
			want: []string{`IN.codecId -> "C"`, `IN.transportId -> "T"`},
		},
		{"non-string values are not references", []Object{{"id": "X", "type": "x", "transportId": 3}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := danglingReferences(tt.objs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
