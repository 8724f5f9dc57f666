package bus

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

func rec(i int) string {
	return fmt.Sprintf(`{"id": "id-%d", "topic": "org.example.prod.t%d", "headers": {"fedora_messaging_severity": 20}, "body": {"n": %d}, "priority": null}`, i, i, i)
}

// readAll reads every record, collecting ids and the errors of bad ones.
func readAll(t *testing.T, in string) (ids []string, recErrs []*RecordError, fatal error) {
	t.Helper()
	rd := NewReader(strings.NewReader(in), Limits{})
	for {
		m, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return ids, recErrs, nil
		}
		var re *RecordError
		if errors.As(err, &re) {
			recErrs = append(recErrs, re)
			continue
		}
		if err != nil {
			return ids, recErrs, err
		}
		ids = append(ids, m.ID)
	}
}

func TestReadShapes(t *testing.T) {
	t.Parallel()
	pretty := "{\n  \"id\": \"id-1\",\n  \"topic\": \"a.b\",\n  \"body\": {\n    \"x\": \"}{][\\\"\"\n  }\n}\n{\n \"id\": \"id-2\", \"topic\": \"a.b\", \"body\": 1\n}\n"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one object", rec(1), []string{"id-1"}},
		{"one object with a trailing newline", rec(1) + "\n", []string{"id-1"}},
		{"JSON lines", rec(1) + "\n" + rec(2) + "\r\n\n" + rec(3) + "\n", []string{"id-1", "id-2", "id-3"}},
		{"JSON lines without a final newline", rec(1) + "\n" + rec(2), []string{"id-1", "id-2"}},
		{"array", "[" + rec(1) + ",\n" + rec(2) + " ," + rec(3) + "]", []string{"id-1", "id-2", "id-3"}},
		{"pretty array", "[\n  " + rec(1) + ",\n  " + rec(2) + "\n]\n", []string{"id-1", "id-2"}},
		{"empty array", "[ ]", nil},
		{"empty input", "", nil},
		{"blank input", " \n\t\n", nil},
		{"pretty-printed objects", pretty, []string{"id-1", "id-2"}},
		{"objects on one line", rec(1) + " " + rec(2), []string{"id-1", "id-2"}},
		{"datagrepper fields", `{"msg_id": "dg-1", "topic": "a.b", "msg": {"x": 1}}`, []string{"dg-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ids, recErrs, fatal := readAll(t, tt.in)
			if fatal != nil || len(recErrs) > 0 {
				t.Fatalf("errors: %v %v", fatal, recErrs)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		var got []*Message
		if err := ReadFile(strings.NewReader(fedoraMessage), func(m *Message) error { got = append(got, m); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d messages", len(got))
		}
		m := got[0]
		if m.Topic != "org.fedoraproject.prod.bodhi.update.comment" || string(m.Body) != `{"comment": {"text": "hi", "karma": 1}}` ||
			string(m.Headers["fedora_messaging_severity"]) != "20" || m.Priority != nil {
			t.Errorf("%+v", m)
		}
	})
}

func TestReadBrokenRecords(t *testing.T) {
	t.Parallel()
	t.Run("JSON lines: a broken line costs only itself", func(t *testing.T) {
		t.Parallel()
		in := rec(1) + "\n" + `{"id": "x", "topic": ` + "\n" + rec(3) + "\n" + `not json` + "\n" + `[1]` + "\n" + `{"id": 5, "topic": "a"}` + "\n" + rec(7) + "\n"
		ids, recErrs, fatal := readAll(t, in)
		if fatal != nil {
			t.Fatal(fatal)
		}
		if !reflect.DeepEqual(ids, []string{"id-1", "id-3", "id-7"}) {
			t.Errorf("ids = %v", ids)
		}
		var lines []int
		for _, re := range recErrs {
			lines = append(lines, re.Line)
		}
		if !reflect.DeepEqual(lines, []int{2, 4, 5, 6}) {
			t.Errorf("bad lines = %v (%v)", lines, recErrs)
		}
		if !strings.Contains(recErrs[0].Error(), "record 2 (line 2)") {
			t.Errorf("error text %q", recErrs[0])
		}
	})
	t.Run("JSON lines: a broken first line", func(t *testing.T) {
		t.Parallel()
		in := `{"id": "x", "topic": ` + "\n" + rec(2) + "\n" + rec(3) + "\n"
		ids, recErrs, fatal := readAll(t, in)
		if fatal != nil || !reflect.DeepEqual(ids, []string{"id-2", "id-3"}) || len(recErrs) != 1 || recErrs[0].Line != 1 {
			t.Errorf("ids %v errs %v fatal %v", ids, recErrs, fatal)
		}
	})
	t.Run("JSON lines: a broken first line at the end of input", func(t *testing.T) {
		t.Parallel()
		ids, recErrs, fatal := readAll(t, `{"id": "x",`+"\n"+rec(2))
		if fatal != nil || !reflect.DeepEqual(ids, []string{"id-2"}) || len(recErrs) != 1 {
			t.Errorf("ids %v errs %v fatal %v", ids, recErrs, fatal)
		}
	})
	t.Run("array: a bad element is skipped", func(t *testing.T) {
		t.Parallel()
		in := "[\n" + rec(1) + ",\n{\"id\": 1,, \"topic\": \"x\"},\n" + rec(3) + "\n]"
		ids, recErrs, fatal := readAll(t, in)
		if fatal != nil {
			t.Fatal(fatal)
		}
		if !reflect.DeepEqual(ids, []string{"id-1", "id-3"}) || len(recErrs) != 1 || recErrs[0].Record != 2 || recErrs[0].Line != 3 {
			t.Errorf("ids %v errs %v", ids, recErrs)
		}
	})
	t.Run("unclosed array", func(t *testing.T) {
		t.Parallel()
		ids, _, fatal := readAll(t, "["+rec(1)+",\n"+rec(2))
		if fatal == nil || !strings.Contains(fatal.Error(), "not closed") || len(ids) != 2 {
			t.Errorf("ids %v fatal %v", ids, fatal)
		}
	})
	t.Run("missing comma in an array", func(t *testing.T) {
		t.Parallel()
		_, _, fatal := readAll(t, "["+rec(1)+"\n"+rec(2)+"]")
		if fatal == nil || !strings.Contains(fatal.Error(), "line 2") {
			t.Errorf("fatal %v", fatal)
		}
	})
	t.Run("data after the array", func(t *testing.T) {
		t.Parallel()
		_, _, fatal := readAll(t, "["+rec(1)+"] x")
		if fatal == nil || !strings.Contains(fatal.Error(), "after the closing") {
			t.Errorf("fatal %v", fatal)
		}
	})
	t.Run("truncated last line", func(t *testing.T) {
		t.Parallel()
		ids, recErrs, fatal := readAll(t, rec(1)+"\n"+rec(2)[:30])
		if fatal != nil || len(ids) != 1 || len(recErrs) != 1 {
			t.Errorf("ids %v errs %v fatal %v", ids, recErrs, fatal)
		}
	})
	t.Run("oversized record is skipped without holding it", func(t *testing.T) {
		t.Parallel()
		huge := `{"id": "big", "topic": "a.b", "body": "` + strings.Repeat("x", 4<<20) + `"}`
		ids, recErrs, fatal := readAll(t, rec(1)+"\n"+huge+"\n"+rec(3)+"\n")
		if fatal != nil || !reflect.DeepEqual(ids, []string{"id-1", "id-3"}) || len(recErrs) != 1 ||
			!strings.Contains(recErrs[0].Error(), "larger than") {
			t.Errorf("ids %v errs %v fatal %v", ids, recErrs, fatal)
		}
	})
	t.Run("ReadFile stops at the first bad record", func(t *testing.T) {
		t.Parallel()
		n := 0
		err := ReadFile(strings.NewReader(rec(1)+"\nbroken\n"+rec(3)), func(*Message) error { n++; return nil })
		var re *RecordError
		if !errors.As(err, &re) || re.Record != 2 || re.Line != 2 || n != 1 {
			t.Errorf("n=%d err=%v", n, err)
		}
	})
	t.Run("ReadFile passes on the callback's error with the record number", func(t *testing.T) {
		t.Parallel()
		stop := errors.New("stop")
		err := ReadFile(strings.NewReader(rec(1)+"\n"+rec(2)+"\n"), func(m *Message) error {
			if m.ID == "id-2" {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || !strings.Contains(err.Error(), "record 2") {
			t.Errorf("err = %v", err)
		}
	})
}

// generator streams n JSON-lines records without holding them.
type generator struct {
	n, i int
	buf  []byte
}

func (g *generator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i == g.n {
			return 0, io.EOF
		}
		g.i++
		g.buf = []byte(rec(g.i) + "\n")
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

func TestReadStreams(t *testing.T) {
	t.Parallel()
	const n = 100_000
	count := 0
	err := ReadFile(&generator{n: n}, func(m *Message) error {
		count++
		if want := fmt.Sprintf("id-%d", count); m.ID != want {
			return fmt.Errorf("got %s, want %s", m.ID, want)
		}
		return nil
	})
	if err != nil || count != n {
		t.Fatalf("count %d err %v", count, err)
	}
}
