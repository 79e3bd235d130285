package proclog

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// script runs a shell script whose stderr carries the log lines.
func script(t *testing.T, body string) *Proc {
	t.Helper()
	p, err := Start(exec.Command("sh", "-c", body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Cmd().Process.Kill()
		<-p.Done()
	})
	return p
}

func TestAwait(t *testing.T) {
	const lines = `echo out; echo 'not json' >&2; echo '{"msg":"a","n":1}' >&2; echo '{"msg":"b","code":200}' >&2;`
	for _, tc := range []struct {
		name    string
		body    string
		msg     string
		want    map[string]any
		timeout time.Duration
		err     error
	}{
		{"first line of a kind", lines + "exec sleep 5", "a", nil, 5 * time.Second, nil},
		{"attributes compared as printed", lines + "exec sleep 5", "b", map[string]any{"code": 200}, 5 * time.Second, nil},
		{"exits before the line", lines + "exit 3", "c", nil, 5 * time.Second, ErrExited},
		{"attribute differs", lines + "exit 0", "b", map[string]any{"code": 404}, 5 * time.Second, ErrExited},
		{"never comes", lines + "exec sleep 5", "c", nil, 200 * time.Millisecond, ErrTimeout},
		{"comes later", "sleep 0.2; echo '{\"msg\":\"late\"}' >&2; exec sleep 5", "late", nil, 5 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := script(t, tc.body)
			line, err := p.Await(tc.timeout, Match(tc.msg, tc.want))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Await error %v, want %v", err, tc.err)
			}
			if err == nil && line["msg"] != tc.msg {
				t.Errorf("line %v, want msg %q", line, tc.msg)
			}
		})
	}
}

func TestAwaitCountAndOutput(t *testing.T) {
	p := script(t, `for i in 1 2 3; do echo "{\"msg\":\"tick\",\"i\":$i}" >&2; done; echo done; exit 4`)
	if n, err := p.AwaitCount(5*time.Second, Match("tick", nil), 3); err != nil || n != 3 {
		t.Fatalf("AwaitCount = %d, %v; want 3, nil", n, err)
	}
	if n, err := p.AwaitCount(5*time.Second, Match("tick", nil), 4); !errors.Is(err, ErrExited) || n != 3 {
		t.Errorf("AwaitCount of 4 = %d, %v; want 3, ErrExited", n, err)
	}
	if code := p.ExitCode(); code != 4 {
		t.Errorf("exit code %d, want 4", code)
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) {
		t.Errorf("Err() = %v, want an exit error", p.Err())
	}
	if got := p.Stdout(); got != "done\n" {
		t.Errorf("stdout %q", got)
	}
	if got := len(p.Lines()); got != 3 {
		t.Errorf("%d JSON lines, want 3", got)
	}
	if tail := p.Tail(1); !strings.Contains(tail, `"i":3`) || strings.Contains(tail, `"i":2`) {
		t.Errorf("Tail(1) = %q", tail)
	}
}
