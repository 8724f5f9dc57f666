package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/rulelog"
	"github.com/fmn-project/fmn/rules"
)

// DeliveryHandlers serve a user's delivery settings: per destination,
// paused or not, and at once or as a digest (DESIGN "Delivery settings").
// A change is a delivery.updated event on the user's RULES subject.
type DeliveryHandlers struct{ s *Server }

// DeliverySetting is one destination's delivery setting.
type DeliverySetting struct {
	Protocol string          `json:"protocol" enum:"email,irc,matrix,sse" example:"email"`
	Address  string          `json:"address" minLength:"1" maxLength:"255" example:"alice@example.org" doc:"One of the user's destinations (see /users/{username}/destinations)."`
	Paused   bool            `json:"paused" required:"false" doc:"Nothing is sent to this destination while paused; notifications meanwhile are dropped and counted, not queued."`
	Digest   *DeliveryDigest `json:"digest" required:"false" doc:"null: each notification at once. Else the notifications are held and sent as one digest when the oldest is max_age seconds old or max_count are held, whichever comes first."`
}

// DeliveryDigest is when a destination's held notifications go out.
type DeliveryDigest struct {
	MaxAge   int  `json:"max_age" minimum:"60" maximum:"604800" example:"3600" doc:"Seconds the oldest held notification may wait: 60 (a minute) to 604800 (a week)."`
	MaxCount *int `json:"max_count" required:"false" nullable:"true" minimum:"2" maximum:"1000" example:"50" doc:"Send as soon as this many are held (2 to 1000); null: by age only."`
}

type deliveryOutput struct {
	ETag string `header:"ETag" doc:"The settings' version; send it as If-Match to change them only if nobody else did."`
	Body []DeliverySetting
}

type putDeliveryInput struct {
	Username string            `path:"username" maxLength:"255" doc:"Whose settings: you (admins: anyone)." example:"alice"`
	IfMatch  string            `header:"If-Match" required:"false" doc:"The ETag the change is based on: 412 when the settings have changed since. Without it the last writer wins."`
	Body     []DeliverySetting `maxItems:"100"`
}

// Register adds the operations.
func (h *DeliveryHandlers) Register(api huma.API) {
	o := op("get-user-delivery", http.MethodGet, "/users/{username}/delivery", "A user's delivery settings",
		"One entry per destination of the user (the same protocol/address pairs as /users/{username}/destinations): "+
			"paused or not, and each notification at once (digest null) or as a digest. Yours, or anyone's for an admin.", "users")
	o.Errors = append(o.Errors, http.StatusForbidden, http.StatusNotFound)
	huma.Register(api, o, h.get)

	o = op("put-user-delivery", http.MethodPut, "/users/{username}/delivery", "Set your delivery settings",
		"Replaces the settings with the list: a destination without an entry gets the defaults (not paused, no digest). "+
			"Every entry must be one of the user's destinations (422 otherwise, naming the entry). Answers the settings as "+
			"GET does, once senders see them (within about a second). Yours, or anyone's for an admin.", "users")
	o.MaxBodyBytes = h.s.cfg.MaxBodyBytes
	o.Errors = append(o.Errors, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
		http.StatusPreconditionFailed, http.StatusUnprocessableEntity, http.StatusConflict)
	huma.Register(api, o, h.put)
}

func (h *DeliveryHandlers) get(ctx context.Context, in *userPath) (*deliveryOutput, error) {
	if err := mustBeSelfOrAdmin(ctx, in.Username, "delivery settings"); err != nil {
		return nil, err
	}
	dests, err := h.s.destinationsOf(ctx, in.Username)
	if err != nil {
		return nil, err
	}
	cur, err := h.s.store.Delivery(ctx, in.Username)
	if err != nil {
		return nil, h.s.readError(ctx, err, "delivery settings")
	}
	return &deliveryOutput{ETag: etag(cur.Version), Body: mergeDelivery(dests, cur.Settings)}, nil
}

func (h *DeliveryHandlers) put(ctx context.Context, in *putDeliveryInput) (*deliveryOutput, error) {
	id, ok := identity(ctx)
	if !ok {
		return nil, huma.Error401Unauthorized("Log in first.")
	}
	if id.Username != in.Username && !id.Admin {
		return nil, huma.Error403Forbidden(fmt.Sprintf("You are logged in as %s: you cannot change %s's delivery settings.", id.Username, in.Username))
	}
	ifMatch, err := ifMatch(in.IfMatch)
	if err != nil {
		return nil, err
	}
	dests, err := h.s.destinationsOf(ctx, in.Username)
	if err != nil {
		return nil, err
	}
	list := make([]delivery.Setting, len(in.Body))
	var details []error
	first := ""
	for i, e := range in.Body {
		// Stored with the address as the account has it, which is what
		// rules send to.
		j := destIndex(dests, Destination{Protocol: e.Protocol, Address: e.Address})
		if j < 0 {
			msg := fmt.Sprintf("%s address %q is not one of %s's destinations; they are: %s",
				e.Protocol, e.Address, in.Username, describe(destsToRules(dests)))
			if first == "" {
				first = msg
			}
			details = append(details, &huma.ErrorDetail{Location: fmt.Sprintf("body[%d]", i), Message: msg, Value: e.Address})
			continue
		}
		list[i] = delivery.Setting{Protocol: dests[j].Protocol, Address: dests[j].Address, Paused: e.Paused}
		if d := e.Digest; d != nil {
			list[i].Digest = &delivery.Digest{MaxAge: d.MaxAge, MaxCount: d.MaxCount}
		}
	}
	if len(details) > 0 {
		return nil, huma.Error422UnprocessableEntity("Delivery settings are for your own destinations only: "+first, details...)
	}
	got, err := h.s.cmds.SetDelivery(ctx, in.Username, list, ifMatch, h.s.meta(ctx, id))
	if err != nil {
		return nil, h.s.deliveryError(ctx, err, in)
	}
	return &deliveryOutput{ETag: etag(got.Version), Body: mergeDelivery(dests, got.Settings)}, nil
}

// deliveryError maps the errors of SetDelivery.
func (s *Server) deliveryError(ctx context.Context, err error, in *putDeliveryInput) error {
	var se *rulelog.SettingError
	switch {
	case errors.As(err, &se):
		loc := fmt.Sprintf("body[%d]", se.Index)
		if d := se.Setting.Digest; d != nil && se.Setting.Validate() != nil {
			if se.Setting.Protocol == delivery.ProtocolLive {
				loc += ".digest"
			} else if d.MaxAge < delivery.MinDigestAge || d.MaxAge > delivery.MaxDigestAge {
				loc += ".digest.max_age"
			} else {
				loc += ".digest.max_count"
			}
		}
		return huma.Error422UnprocessableEntity("The delivery settings are not valid: "+se.Err.Error(),
			&huma.ErrorDetail{Location: loc, Message: se.Err.Error(), Value: in.Body[se.Index]})
	case errors.Is(err, rulelog.ErrPreconditionFailed):
		return huma.Error412PreconditionFailed(fmt.Sprintf("%s's delivery settings have changed since you read them "+
			"(their ETag is no longer the one in If-Match): read them again, apply your change and send it with the new ETag.", in.Username))
	}
	return s.commandError(ctx, err, in.Username, 0)
}

// mergeDelivery is one entry per destination: its stored setting, or the
// defaults.
func mergeDelivery(dests []Destination, stored []delivery.Setting) []DeliverySetting {
	byKey := make(map[delivery.Key]delivery.Setting, len(stored))
	for _, st := range stored {
		byKey[st.Key()] = st
	}
	out := make([]DeliverySetting, len(dests))
	for i, d := range dests {
		out[i] = DeliverySetting{Protocol: d.Protocol, Address: d.Address}
		if st, ok := byKey[delivery.Key{Protocol: d.Protocol, Address: d.Address}]; ok {
			out[i].Paused = st.Paused
			if st.Digest != nil {
				out[i].Digest = &DeliveryDigest{MaxAge: st.Digest.MaxAge, MaxCount: st.Digest.MaxCount}
			}
		}
	}
	return out
}

// destIndex is the index of d in dests, compared as containsDest does, or
// -1.
func destIndex(dests []Destination, d Destination) int {
	want := normalAddress(rules.Destination(d))
	for i, x := range dests {
		if x.Protocol == d.Protocol && normalAddress(rules.Destination(x)) == want {
			return i
		}
	}
	return -1
}

func destsToRules(ds []Destination) []rules.Destination {
	out := make([]rules.Destination, len(ds))
	for i, d := range ds {
		out[i] = rules.Destination(d)
	}
	return out
}

// TransformSchema documents digest as nullable (huma's nullable tag does
// not apply to an object). Huma's validator lets anything through such an
// anyOf: the digest's bounds are checked by delivery.Setting.Validate
// (deliveryError).
func (DeliverySetting) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	if p := s.Properties["digest"]; p != nil && p.Ref != "" {
		s.Properties["digest"] = &huma.Schema{Description: p.Description,
			AnyOf: []*huma.Schema{{Ref: p.Ref}, {Type: "null"}}}
	}
	return s
}
