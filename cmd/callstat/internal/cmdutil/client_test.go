package cmdutil

import "testing"

func TestPerCallPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"received.wav", "received-ID.wav"},
		{"/tmp/rec/x.wav", "/tmp/rec/x-ID.wav"},
		{"dir.d/heard", "dir.d/heard-ID"},
		{"a.b.wav", "a.b-ID.wav"},
	}
	for _, tt := range tests {
		if got := PerCallPath(tt.path, "ID"); got != tt.want {
			t.Errorf("PerCallPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
