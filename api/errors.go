package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// retryAfter is the Retry-After of a 503 for a lagging projection or an
// unreachable dependency.
const retryAfter = "2"

// unavailable is a 503 with Retry-After.
func unavailable(msg string, errs ...error) error {
	return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable(msg, errs...), http.Header{"Retry-After": {retryAfter}})
}

// validationError maps rules.Validate's errors to a 422 whose details point
// into the request body, as huma's own validation does; body (the request
// body, or nil) gives each detail its offending value.
func validationError(err error, body any) error {
	return invalidAt(err, body, "body", "The rule is not valid: ")
}

// invalidAt is validationError for a rule at location at of the request
// body (a list's element: "body[2]"); what starts the message.
func invalidAt(err error, body any, at, what string) error {
	var ve rules.ValidationErrors
	if !errors.As(err, &ve) {
		return huma.Error422UnprocessableEntity(what + err.Error())
	}
	doc := asJSON(body)
	details := make([]error, len(ve))
	for i, fe := range ve {
		loc := at
		if fe.Location != "" {
			loc += "." + fe.Location
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: fe.Message, Value: valueAt(doc, fe.Location)}
	}
	msg := what + ve[0].Message
	if len(ve) > 1 {
		msg = fmt.Sprintf("%s%s (and %d more problems, see errors)", what, ve[0].Message, len(ve)-1)
	}
	return huma.Error422UnprocessableEntity(msg, details...)
}

// commandError maps the errors of the rule log to statuses. ruleID is 0
// for a creation.
func (s *Server) commandError(ctx context.Context, err error, user string, ruleID int64) error {
	switch {
	case errors.Is(err, rulelog.ErrInvalid):
		return validationError(err, nil)
	case errors.Is(err, rulelog.ErrNotFound):
		return huma.Error404NotFound(fmt.Sprintf("%s has no rule %d", user, ruleID))
	case errors.Is(err, rulelog.ErrPreconditionFailed):
		return huma.Error412PreconditionFailed(fmt.Sprintf(
			"Rule %d has changed since you read it (its ETag is no longer the one in If-Match): read it again, apply your change to it and send it with the new ETag.", ruleID))
	case errors.Is(err, rulelog.ErrProjectionLagging):
		what := "Your change is recorded"
		if ruleID != 0 {
			what = fmt.Sprintf("Your change to rule %d is recorded", ruleID)
		}
		return unavailable(what + ", but the rule projection has not applied it in time: it will show once the projector catches up. Do not send it again; read your rules in a moment.")
	case errors.Is(err, rulelog.ErrTooManyRules):
		var tm *rulelog.TooManyRulesError
		if errors.As(err, &tm) {
			return huma.Error422UnprocessableEntity(fmt.Sprintf(
				"%s already has %d rules, the most one user may have here (%d): delete or merge some before creating another.", user, tm.Rules, tm.Limit))
		}
		return huma.Error422UnprocessableEntity(fmt.Sprintf("%s has as many rules as one user may have: delete some before creating another.", user))
	case errors.Is(err, rulelog.ErrConflict):
		return huma.Error409Conflict(fmt.Sprintf("Too many changes to %s's rules at the same time: try again.", user))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return unavailable("The request took too long: try again.")
	}
	s.log.ErrorContext(ctx, "rule command failed", slog.String("user", user), slog.Int64("rule_id", ruleID), slog.Any("error", err))
	return unavailable("The rule store is unavailable: try again later.")
}

// readError maps a failed read of the projection.
func (s *Server) readError(ctx context.Context, err error, what string) error {
	if errors.Is(err, rulelog.ErrNotFound) {
		return huma.Error404NotFound(what + " not found")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable("The request took too long: try again.")
	}
	s.log.ErrorContext(ctx, "read failed", slog.String("what", what), slog.Any("error", err))
	return unavailable("The rule store is unavailable: try again later.")
}

// asJSON is v as generic JSON (nil when v is nil or does not encode).
func asJSON(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

// valueAt is the scalar at loc ("generation_rules[0].destinations[1].address")
// in doc, or nil: only strings and numbers are echoed, not whole objects.
func valueAt(doc any, loc string) any {
	if doc == nil || loc == "" {
		return nil
	}
	cur := doc
	for _, step := range fmnLoc(loc) {
		switch k := step.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	switch cur.(type) {
	case string, float64, bool:
		return cur
	}
	return nil
}
