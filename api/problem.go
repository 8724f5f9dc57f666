package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// ErrorModel is every error of the API: an RFC 9457 problem (huma's, with
// its errors list) whose detail is FMN's where FMN clients read it. A
// validation error (422 with field errors) carries FastAPI's detail list,
// [{"loc": ["body", "generation_rules", 0, ...], "msg", "type", "input"}],
// so that an FMN client finds each problem where it looks; an RFC 9457
// client reads title, status and errors (RFC 9457 §3.1: a member of
// unexpected type, here detail, is ignored). Every other error has a string
// detail, as FMN's HTTPException answers.
type ErrorModel struct {
	Type     string              `json:"type,omitempty" format:"uri" default:"about:blank" doc:"A URI reference to human-readable documentation for the error."`
	Title    string              `json:"title,omitempty" example:"Bad Request" doc:"A short, human-readable summary of the problem type."`
	Status   int                 `json:"status,omitempty" example:"400" doc:"HTTP status code"`
	Detail   ProblemDetail       `json:"detail,omitzero" required:"false" doc:"What went wrong: a sentence; for a validation error (422 with errors) FMN's (FastAPI's) list of {loc, msg, type, input}, one per problem."`
	Instance string              `json:"instance,omitempty" format:"uri" doc:"A URI reference that identifies the specific occurrence of the problem."`
	Errors   []*huma.ErrorDetail `json:"errors,omitempty" doc:"The individual problems: location (e.g. body.generation_rules[0].destinations[0].address), message, value."`
}

// ProblemDetail is a problem's detail: Text, or FMN's List when set.
type ProblemDetail struct {
	Text string
	List []FMNErrorDetail
}

// IsZero lets omitempty drop an empty detail.
func (d ProblemDetail) IsZero() bool { return d.Text == "" && d.List == nil }

// MarshalJSON writes the list or the text.
func (d ProblemDetail) MarshalJSON() ([]byte, error) {
	if d.List != nil {
		return json.Marshal(d.List)
	}
	return json.Marshal(d.Text)
}

// UnmarshalJSON reads either form.
func (d *ProblemDetail) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &d.List)
	}
	return json.Unmarshal(b, &d.Text)
}

// Schema documents both forms.
func (d ProblemDetail) Schema(r huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "What went wrong: a sentence; for a validation error (422 with errors) FMN's (FastAPI's) list of {loc, msg, type, input}, one per problem.",
		OneOf: []*huma.Schema{
			{Type: huma.TypeString},
			{Type: huma.TypeArray, Items: r.Schema(reflect.TypeFor[FMNErrorDetail](), true, "FMNErrorDetail")},
		},
	}
}

// FMNErrorDetail is one entry of FMN's (FastAPI's) validation detail.
type FMNErrorDetail struct {
	Loc   []any  `json:"loc" doc:"Where: \"body\", \"path\", \"query\" or \"header\", then field names and list indexes."`
	Msg   string `json:"msg"`
	Type  string `json:"type" doc:"FastAPI's error type: missing, extra_forbidden, string_type, literal_error, value_error, …"`
	Input any    `json:"input,omitempty" doc:"The offending value, when there is one."`
}

// Error is the detail sentence (or the first problem).
func (e *ErrorModel) Error() string {
	if e.Detail.List == nil {
		return e.Detail.Text
	}
	if len(e.Errors) > 0 {
		return e.Errors[0].Message
	}
	return e.Title
}

// GetStatus is the HTTP status.
func (e *ErrorModel) GetStatus() int { return e.Status }

// ContentType makes errors application/problem+json.
func (e *ErrorModel) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// newError replaces huma.NewError (see init).
func newError(status int, msg string, errs ...error) huma.StatusError {
	e := &ErrorModel{Status: status, Title: http.StatusText(status), Detail: ProblemDetail{}}
	for _, err := range errs {
		if err == nil {
			continue
		}
		if d, ok := err.(huma.ErrorDetailer); ok {
			e.Errors = append(e.Errors, d.ErrorDetail())
		} else {
			e.Errors = append(e.Errors, &huma.ErrorDetail{Message: err.Error()})
		}
	}
	if status == http.StatusUnprocessableEntity && len(e.Errors) > 0 {
		list := make([]FMNErrorDetail, len(e.Errors))
		for i, d := range e.Errors {
			list[i] = fmnDetail(d)
		}
		e.Detail.List = list
		return e
	}
	e.Detail.Text = msg
	return e
}

func init() {
	// One API per process: every error huma or a handler makes is ours.
	huma.NewError = newError
}

// fmnDetail turns huma's detail into FastAPI's.
func fmnDetail(d *huma.ErrorDetail) FMNErrorDetail {
	loc := fmnLoc(d.Location)
	msg := d.Message
	typ := "value_error"
	switch {
	case strings.HasPrefix(msg, "expected required property "):
		// huma points at the object; FastAPI at the missing field.
		if name, ok := strings.CutSuffix(strings.TrimPrefix(msg, "expected required property "), " to be present"); ok {
			loc = append(loc, name)
		}
		typ = "missing"
	case strings.HasPrefix(msg, "unexpected property"):
		typ = "extra_forbidden"
	case strings.HasPrefix(msg, "expected value to be one of"):
		typ = "literal_error"
	case strings.HasPrefix(msg, "expected length <=") || strings.HasPrefix(msg, "expected array length <="):
		typ = "too_long"
	case strings.HasPrefix(msg, "expected length >=") || strings.HasPrefix(msg, "expected array length >="):
		typ = "too_short"
	case strings.HasPrefix(msg, "expected "):
		w, _, _ := strings.Cut(strings.TrimPrefix(msg, "expected "), " ")
		if t, ok := fmnTypes[w]; ok {
			typ = t
		}
	}
	return FMNErrorDetail{Loc: loc, Msg: msg, Type: typ, Input: d.Value}
}

var fmnTypes = map[string]string{
	"string": "string_type", "integer": "int_type", "number": "float_type",
	"boolean": "bool_type", "array": "list_type", "object": "dict_type",
}

// fmnLoc splits "body.generation_rules[0].address" into
// ["body", "generation_rules", 0, "address"].
func fmnLoc(loc string) []any {
	out := []any{}
	for part := range strings.SplitSeq(loc, ".") {
		for part != "" {
			name, rest, found := strings.Cut(part, "[")
			if name != "" {
				out = append(out, name)
			}
			if !found {
				break
			}
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				out = append(out, rest)
				break
			}
			if n, err := strconv.Atoi(idx); err == nil {
				out = append(out, n)
			} else {
				out = append(out, strings.Trim(idx, `"'`))
			}
			part = after
		}
	}
	return out
}
