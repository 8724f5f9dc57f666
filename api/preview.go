package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/bus"
	"github.com/fmn-project/fmn/preview"
	"github.com/fmn-project/fmn/rules"
)

// PreviewNotification is one notification the rule would have produced.
type PreviewNotification struct {
	MessageID string    `json:"message_id" doc:"The bus message's id."`
	Topic     string    `json:"topic"`
	App       string    `json:"app" doc:"The message's application, \"\" when unknown."`
	Severity  string    `json:"severity" enum:"debug,info,warning,error"`
	Summary   string    `json:"summary"`
	URL       string    `json:"url"`
	SentAt    time.Time `json:"sent_at"`
	Protocol  string    `json:"protocol" doc:"The destination's protocol; \"preview\" for a generation rule without destinations."`
	Address   string    `json:"address"`
	Line      string    `json:"line" doc:"The notification as IRC and Matrix show it; emails use it as subject line with the link."`
}

// PreviewResult is the answer of the rule preview.
type PreviewResult struct {
	Notifications []PreviewNotification `json:"notifications" doc:"Newest first, at most the configured number (see total and truncated)."`
	Since         time.Time             `json:"since" doc:"Start of the window."`
	Until         time.Time             `json:"until" doc:"End of the window: when the preview began."`
	Total         int                   `json:"total" doc:"Notifications in the window, including those left out."`
	Truncated     bool                  `json:"truncated" doc:"Older notifications were left out."`
	Messages      int                   `json:"messages" doc:"Bus messages in the window (read, with source scan)."`
	Parsed        int                   `json:"parsed" doc:"Bus messages that could match, and were matched: parsed as read with source scan, as the index keeps them with source index."`
	Complete      bool                  `json:"complete" doc:"False when the preview ran out of time before the end of the window."`
	Subjects      []string              `json:"subjects" doc:"The BUS subjects read (narrowed by the topic filters)."`
	Source        string                `json:"source" enum:"index,scan,none" doc:"index: the rule was matched through the API's index of recent history, and only the messages of the notifications returned were fetched; scan: the window was read; none: the rule can match nothing (artifacts-owned for someone who owns nothing), so nothing was read."`
	TookMillis    int64                 `json:"took_ms"`
}

// previewResult is res in the API's shape.
func previewResult(res *preview.Result) *PreviewResult {
	out := &PreviewResult{
		Notifications: make([]PreviewNotification, 0, len(res.Notifications)),
		Since:         res.Since, Until: res.Until, Total: res.Total, Truncated: res.Truncated,
		Messages: res.Messages, Parsed: res.Parsed, Complete: res.Complete,
		Subjects: res.Subjects, Source: res.Source, TookMillis: res.Took.Milliseconds(),
	}
	if out.Subjects == nil {
		out.Subjects = []string{}
	}
	for _, n := range res.Notifications {
		out.Notifications = append(out.Notifications, PreviewNotification{
			MessageID: n.MessageID, Topic: n.Topic, App: n.App, Severity: bus.SeverityName(n.Severity),
			Summary: n.Summary, URL: n.URL, SentAt: n.SentAt, Protocol: n.Protocol, Address: n.Address, Line: n.Line,
		})
	}
	return out
}

// PreviewHandlers serve the rule preview.
type PreviewHandlers struct{ s *Server }

// PreviewRule is a draft rule in the create shape, with a window start.
type PreviewRule struct {
	Name            *string                 `json:"name,omitempty" nullable:"true" maxLength:"255" doc:"Ignored (a draft may have none yet)."`
	Disabled        bool                    `json:"disabled,omitempty" doc:"Ignored: the preview runs the rule as enabled."`
	TrackingRule    TrackingRule            `json:"tracking_rule"`
	GenerationRules []PreviewGenerationRule `json:"generation_rules" maxItems:"20"`
	Since           *time.Time              `json:"since,omitempty" doc:"Start of the window (RFC 3339). Default one hour ago; a start further back than the limit (24 hours by default) is moved up to it."`

	ID                *int64  `json:"id,omitempty" readOnly:"true" doc:"Ignored."`
	User              *UserIn `json:"user,omitempty" readOnly:"true" doc:"Ignored: the preview runs as you."`
	GeneratedLastWeek *int64  `json:"generated_last_week,omitempty" readOnly:"true" doc:"Ignored."`
}

// PreviewGenerationRule is a generation rule whose destinations may be
// missing: the preview then shows the matches with protocol "preview".
type PreviewGenerationRule struct {
	ID           *int64        `json:"id,omitempty" readOnly:"true" doc:"Ignored."`
	Destinations []Destination `json:"destinations" required:"false" maxItems:"20"`
	Filters      Filters       `json:"filters" required:"false"`
}

type previewInput struct {
	Body PreviewRule
}

type previewOutput struct {
	Body *PreviewResult
}

// Register adds the operation.
func (h *PreviewHandlers) Register(api huma.API) {
	o := op("rule-preview", http.MethodPost, "/rule-preview", "Preview a rule",
		"The notifications a draft rule would have produced over recent bus history (default the last hour), "+
			"newest first. Nothing is sent or stored. Destinations are not checked, since nothing is sent.", "misc")
	o.Description += " The server runs a bounded number of previews at once, in all and per user: beyond that it answers 429 " +
		"with Retry-After, and a problem saying which limit was reached."
	o.MaxBodyBytes = h.s.cfg.MaxBodyBytes
	o.Errors = append(o.Errors, http.StatusUnprocessableEntity, http.StatusTooManyRequests)
	huma.Register(api, o, h.preview)
}

func (h *PreviewHandlers) preview(ctx context.Context, in *previewInput) (*previewOutput, error) {
	id, _ := identity(ctx)
	if h.s.preview == nil {
		return nil, unavailable("The preview needs the bus stream, which this server does not read.")
	}
	now := h.s.preview.Now()
	since := now.Add(-h.s.cfg.PreviewWindow)
	if in.Body.Since != nil {
		since = *in.Body.Since
		if since.After(now) {
			return nil, huma.Error422UnprocessableEntity("since is in the future",
				&huma.ErrorDetail{Location: "body.since", Message: "the window must start in the past", Value: since})
		}
		if oldest := now.Add(-h.s.cfg.PreviewMaxWindow); since.Before(oldest) {
			since = oldest
		}
	}
	// Validate as a rule: placeholders stand in for what a draft may lack.
	r := rules.Rule{
		Name:         "preview",
		User:         rules.User{Name: id.Username},
		TrackingRule: rules.TrackingRule{Name: in.Body.TrackingRule.Name, Params: normParams(in.Body.TrackingRule.Params)},
	}
	check := r
	for _, g := range in.Body.GenerationRules {
		gr := (&GenerationRule{Destinations: g.Destinations, Filters: g.Filters}).toModel()
		r.GenerationRules = append(r.GenerationRules, gr)
		if len(gr.Destinations) == 0 {
			gr.Destinations = []rules.Destination{{Protocol: rules.ProtocolEmail, Address: "preview@example.org"}}
		}
		check.GenerationRules = append(check.GenerationRules, gr)
	}
	if err := rules.Validate(&check); err != nil {
		return nil, validationError(err, in.Body)
	}
	release, refused := h.s.limiter.acquire(id.Username)
	if refused != nil {
		limit := "server"
		if refused.user {
			limit = "user"
		}
		h.s.metrics.refused.WithLabelValues(limit).Inc()
		return nil, tooManyPreviews(refused)
	}
	defer release()
	pctx, cancel := context.WithTimeout(ctx, h.s.cfg.PreviewTimeout)
	defer cancel()
	start := time.Now()
	res, err := h.s.preview.Preview(pctx, preview.Request{Rule: r, Since: since, MaxResults: h.s.cfg.PreviewMaxResults})
	h.s.metrics.previews.Observe(time.Since(start).Seconds())
	if err != nil {
		if errors.Is(err, preview.ErrLookups) {
			return nil, unavailable("The preview needs ownership lookups, which failed: try again later.")
		}
		h.s.log.ErrorContext(ctx, "preview failed", "error", err)
		return nil, unavailable("The bus history is unavailable: try again later.")
	}
	h.s.metrics.scanned.Add(float64(res.Messages))
	return &previewOutput{Body: previewResult(res)}, nil
}
