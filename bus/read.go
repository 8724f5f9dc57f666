package bus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// RecordError is a problem with one record of a message file. Reading can
// go on with the next record.
type RecordError struct {
	// Record is the 1-based number of the record in the file.
	Record int
	// Line is the line the record starts on.
	Line int
	Err  error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d (line %d): %v", e.Record, e.Line, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// ReadFile reads messages in the serialized fedora-messaging form — one
// JSON object, one object per line (JSON Lines), a JSON array of objects,
// or objects one after the other — and calls fn for each, in order. It
// streams: memory stays bounded by the largest record. It stops at the
// first error, a *RecordError naming the record (and line) for a bad
// record or an error from fn.
func ReadFile(r io.Reader, fn func(*Message) error) error {
	rd := NewReader(r, Limits{})
	for {
		m, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return &RecordError{Record: rd.record, Line: rd.recLine, Err: err}
		}
	}
}

// Reader reads the records of a message file one at a time. Use it rather
// than ReadFile to skip bad records and go on.
type Reader struct {
	br        *bufio.Reader
	maxRecord int
	mode      readMode
	first     bool // array mode: no element read yet
	line      int  // current line, 1-based
	record    int
	recLine   int
	decided   bool // the mode is settled (after the first record)
	done      bool
	buf       []byte
}

type readMode uint8

const (
	modeUnknown readMode = iota
	modeArray            // [ {...}, {...} ]
	modeLines            // one object per line: a newline ends a record
	modeStream           // pretty-printed objects one after the other
)

// NewReader returns a Reader. A record larger than the body limit plus
// room for its envelope and headers is reported and skipped without
// being held in memory.
func NewReader(r io.Reader, l Limits) *Reader {
	l = l.WithDefaults()
	return &Reader{
		br:        bufio.NewReaderSize(r, 64<<10),
		maxRecord: l.MaxBody + l.MaxHeaders*(l.MaxHeaderName+64) + 64<<10,
		line:      1,
		first:     true,
	}
}

// Next returns the next message, or io.EOF after the last. A *RecordError
// concerns one record: the next call continues after it. Any other error
// (a broken array, an unreadable input) ends the reading.
func (r *Reader) Next() (*Message, error) {
	if r.done {
		return nil, io.EOF
	}
	if r.mode == modeUnknown {
		c, err := r.peekNonBlank()
		if err != nil {
			return nil, r.end(err)
		}
		if c == '[' {
			_, _ = r.br.ReadByte()
			r.mode = modeArray
		} else {
			r.mode = r.detectMode()
		}
	}
	if r.mode == modeArray {
		c, err := r.peekNonBlank()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("line %d: unexpected end of input: the array is not closed", r.line)
			}
			return nil, r.end(err)
		}
		if c == ']' {
			_, _ = r.br.ReadByte()
			if c, err := r.peekNonBlank(); err == nil {
				return nil, r.end(fmt.Errorf("line %d: unexpected %q after the closing ]", r.line, c))
			} else if !errors.Is(err, io.EOF) {
				return nil, r.end(err)
			}
			return nil, r.end(io.EOF)
		}
		if !r.first {
			if c != ',' {
				return nil, r.end(fmt.Errorf("line %d: unexpected %q between records, expecting ',' or ']'", r.line, c))
			}
			_, _ = r.br.ReadByte()
			if _, err := r.peekNonBlank(); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("line %d: unexpected end of input: the array is not closed", r.line)
				}
				return nil, r.end(err)
			}
		}
		r.first = false
	} else if _, err := r.peekNonBlank(); err != nil {
		return nil, r.end(err)
	}
	return r.readRecord()
}

func (r *Reader) end(err error) error {
	r.done = true
	return err
}

// peekNonBlank skips whitespace and returns the next byte without
// consuming it.
func (r *Reader) peekNonBlank() (byte, error) {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case '\n':
			r.line++
			continue
		case ' ', '\t', '\r':
			continue
		}
		_ = r.br.UnreadByte()
		return c, nil
	}
}

// readRecord reads one JSON value starting at the next byte, tracking
// strings and nesting to find its end without decoding it.
func (r *Reader) readRecord() (*Message, error) {
	r.record++
	r.recLine = r.line
	r.buf = r.buf[:0]
	tooBig := false
	add := func(c byte) {
		if tooBig {
			return
		}
		if len(r.buf) >= r.maxRecord {
			tooBig = true
			return
		}
		r.buf = append(r.buf, c)
	}
	recErr := func(err error) (*Message, error) {
		return nil, &RecordError{Record: r.record, Line: r.recLine, Err: err}
	}

	first, _ := r.br.ReadByte()
	add(first)
	depth, inString, escaped := 0, first == '"', false
	if first == '{' || first == '[' {
		depth = 1
	}
	scalar := depth == 0 && !inString
	// The first line of a JSON Lines file decides nothing by itself: a
	// hand-formatted object may start on it. tentative marks a first record
	// that ran past its line; if it does not decode, the bytes after its
	// first line are read again as lines.
	tentative, firstNL := false, 0
	for depth > 0 || inString || scalar {
		c, err := r.br.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, r.end(err)
			}
			if scalar {
				break
			}
			if tentative && !tooBig {
				return r.backtrack(firstNL, errors.New("the line ends before the JSON object does"))
			}
			r.done = true
			return recErr(errors.New("unexpected end of input inside the record"))
		}
		if scalar {
			end := c == '\n'
			if r.mode != modeLines {
				end = isSpace(c) || c == ',' || c == ']' || c == '[' || c == '{'
			}
			if end {
				_ = r.br.UnreadByte()
				break
			}
			add(c)
			continue
		}
		if c == '\n' {
			r.line++
			if r.mode == modeLines && !tentative {
				if r.record != 1 || r.decided {
					return recErr(errors.New("the line ends before the JSON object does"))
				}
				tentative, firstNL = true, len(r.buf)
			}
		}
		add(c)
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	decided := r.decided
	r.decided = true

	if tooBig {
		return recErr(fmt.Errorf("record is larger than %d bytes", r.maxRecord))
	}
	if r.buf[0] != '{' {
		return recErr(fmt.Errorf("not a JSON object: %.40q", r.buf))
	}
	var rec fileRecord
	if err := json.Unmarshal(r.buf, &rec); err != nil {
		if tentative && !decided {
			return r.backtrack(firstNL, err)
		}
		return recErr(err)
	}
	if tentative {
		r.mode = modeStream
	}
	return rec.message(), nil
}

// backtrack reports the first record as a broken line and reads what
// followed its first line again, as JSON Lines.
func (r *Reader) backtrack(firstNL int, err error) (*Message, error) {
	rest := append([]byte(nil), r.buf[firstNL+1:]...)
	r.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), r.br), 64<<10)
	r.line = r.recLine + 1
	r.done = false
	r.decided = true
	return nil, &RecordError{Record: r.record, Line: r.recLine, Err: fmt.Errorf("the line ends before the JSON object does (%v)", err)}
}

// detectMode tells JSON Lines from pretty-printed objects by the first
// line: pretty printers (json.dumps(indent=…), jq, Go's MarshalIndent) put
// the opening brace alone on it. In JSON Lines mode a newline ends a
// record, so a broken line costs only that record.
func (r *Reader) detectMode() readMode {
	for i := 1; i <= r.br.Size(); i++ {
		b, err := r.br.Peek(i)
		if err != nil || b[i-1] == '\n' {
			if string(bytes.TrimSpace(b)) == "{" {
				return modeStream
			}
			return modeLines
		}
	}
	return modeLines
}

// fileRecord accepts the fedora-messaging form and, for messages copied
// from datagrepper, its msg_id and msg fields.
type fileRecord struct {
	ID       string                     `json:"id"`
	MsgID    string                     `json:"msg_id"`
	Topic    string                     `json:"topic"`
	Headers  map[string]json.RawMessage `json:"headers"`
	Body     json.RawMessage            `json:"body"`
	Msg      json.RawMessage            `json:"msg"`
	Priority *int                       `json:"priority"`
}

func (f *fileRecord) message() *Message {
	m := &Message{ID: f.ID, Topic: f.Topic, Headers: f.Headers, Body: f.Body, Priority: f.Priority}
	if m.ID == "" {
		m.ID = f.MsgID
	}
	if len(m.Body) == 0 {
		m.Body = f.Msg
	}
	return m
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
