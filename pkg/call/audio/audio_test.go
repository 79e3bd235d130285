package audio

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"tone", "tone:440", false},
		{"tone:1000", "tone:1000", false},
		{" tone:20 ", "tone:20", false},
		{"tone:20000", "tone:20000", false},
		{"tone:19", "", true},
		{"tone:abc", "", true},
		{"tone:", "", true},
		{"silence", "silence", false},
		{"silence:1", "", true},
		{"mic", "mic", false},
		{"mic:alsa_input.usb-0d8c", "mic:alsa_input.usb-0d8c", false},
		{"mic:hw:CARD=PCH,DEV=0", "mic:hw:CARD=PCH,DEV=0", false},
		{"mic:", "", true},
		{"mic: ", "", true},
		{"file:speech.wav", "file:speech.wav", false},
		{"file:/tmp/a:b.wav", "file:/tmp/a:b.wav", false},
		{"file:", "", true},
		{"file", "", true},
		{"", "", true},
		{"mp3", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpec(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadSpec) {
					t.Fatalf("ParseSpec(%q) err = %v, want ErrBadSpec", tt.in, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParseSpec(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// A source encodes frames in real time through mediadevices and stops
// cleanly, leaving no goroutine behind.
func TestSourceEncodesInRealTimeAndCloses(t *testing.T) {
	report := test.CheckRoutines(t)
	defer report()
	for _, spec := range []string{"tone:1000", "silence"} {
		t.Run(spec, func(t *testing.T) {
			s, err := ParseSpec(spec)
			if err != nil {
				t.Fatal(err)
			}
			src, err := Open(context.Background(), s, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			deadline := time.After(5 * time.Second)
			for src.Frames() < 25 {
				select {
				case <-deadline:
					t.Fatalf("only %d frames after 5 s", src.Frames())
				case <-time.After(10 * time.Millisecond):
				}
			}
			// 25 frames of 20 ms cannot be produced in much less than
			// 480 ms by a real-time source.
			if el := time.Since(start); el < 400*time.Millisecond {
				t.Errorf("25 frames after %s: the source is not paced to real time", el)
			}
			if src.Track().Codec().MimeType != OpusCodec.MimeType {
				t.Errorf("track codec %s", src.Track().Codec().MimeType)
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			n := src.Frames()
			time.Sleep(100 * time.Millisecond)
			if src.Frames() != n {
				t.Errorf("frames still produced after Close")
			}
		})
	}
}
