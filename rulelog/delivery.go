package rulelog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/queries"
)

// DeliverySettings is a user's list of non-default delivery settings, as
// the projection holds it, sorted by protocol and address. Version is the
// sequence of the user's last delivery.updated event (0: never set), the
// ETag of the API's /users/{u}/delivery.
type DeliverySettings struct {
	Settings []delivery.Setting
	Version  uint64
}

// Delivery returns user's delivery settings; a user who never set any has
// none, at version 0.
func (s *Store) Delivery(ctx context.Context, user string) (DeliverySettings, error) {
	row, err := s.q.DeliverySettingsGet(ctx, user)
	if err = dbErr("get delivery settings", err); errors.Is(err, ErrNotFound) {
		return DeliverySettings{Settings: []delivery.Setting{}}, nil
	}
	if err != nil {
		return DeliverySettings{}, err
	}
	return deliveryFromRow(row)
}

func deliveryFromRow(row queries.DeliverySetting) (DeliverySettings, error) {
	list := []delivery.Setting{}
	if err := json.Unmarshal(row.Settings, &list); err != nil {
		return DeliverySettings{}, fmt.Errorf("delivery settings of %s: %w", row.Username, err)
	}
	return DeliverySettings{Settings: list, Version: uint64(row.Version)}, nil
}

// settingsColumn encodes a delivery.updated event's list for the table.
func settingsColumn(list []delivery.Setting) (json.RawMessage, error) {
	if list == nil {
		list = []delivery.Setting{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("encode delivery settings: %w", err)
	}
	return b, nil
}

// normalizeSettings validates list and returns its non-default entries
// sorted by protocol and address. Two entries for one destination are
// invalid.
func normalizeSettings(list []delivery.Setting) ([]delivery.Setting, error) {
	out := make([]delivery.Setting, 0, len(list))
	seen := make(map[delivery.Key]bool, len(list))
	for i, st := range list {
		if err := st.Validate(); err != nil {
			return nil, &SettingError{Index: i, Setting: st, Err: err}
		}
		if seen[st.Key()] {
			return nil, &SettingError{Index: i, Setting: st, Err: errors.New("a second entry for the same destination")}
		}
		seen[st.Key()] = true
		if !st.IsDefault() {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b delivery.Setting) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Address, b.Address))
	})
	return out, nil
}

// SettingError is an invalid entry of a list of delivery settings: entry
// Index of the list. errors.Is(err, ErrInvalid) holds.
type SettingError struct {
	Index   int
	Setting delivery.Setting
	Err     error
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("delivery setting %d (%s %s): %v", e.Index, e.Setting.Protocol, e.Setting.Address, e.Err)
}

func (e *SettingError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// SetDelivery replaces user's delivery settings with list (entries at the
// defaults are dropped: a destination without an entry has the defaults)
// and returns them as projected. With ifMatch, the settings' version must
// equal it (ErrPreconditionFailed). An invalid entry is a *SettingError.
// Whether each destination is one of the user's is for the caller to
// check.
func (c *Commands) SetDelivery(ctx context.Context, user string, list []delivery.Setting, ifMatch *uint64, m Meta) (DeliverySettings, error) {
	list, err := normalizeSettings(list)
	if err != nil {
		return DeliverySettings{}, err
	}
	seq, err := c.appendChecked(ctx, user, func(ctx context.Context) (*Event, error) {
		cur, err := c.store.Delivery(ctx, user)
		if err != nil {
			return nil, err
		}
		if ifMatch != nil && *ifMatch != cur.Version {
			return nil, ErrPreconditionFailed
		}
		ev := c.event(EventDeliveryUpdated, user, 0, m)
		ev.Settings = list
		return &ev, nil
	})
	if err != nil {
		return DeliverySettings{}, err
	}
	fromEvent := DeliverySettings{Settings: list, Version: seq}
	if err := c.WaitProjected(ctx, seq); err != nil {
		return fromEvent, err
	}
	return c.store.Delivery(ctx, user)
}

// SetPaused pauses or resumes one destination of user, keeping the rest of
// their settings (delivery.Pauser, for the IRC and Matrix bots). It reads
// the current settings, changes that entry and appends the whole list,
// starting over when another change of the user lands in between. Setting
// the state the destination has already appends nothing.
func (c *Commands) SetPaused(ctx context.Context, user, protocol, address string, paused bool) error {
	key := delivery.Key{Protocol: protocol, Address: address}
	errUnchanged := errors.New("unchanged")
	seq, err := c.appendChecked(ctx, user, func(ctx context.Context) (*Event, error) {
		cur, err := c.store.Delivery(ctx, user)
		if err != nil {
			return nil, err
		}
		list := slices.Clone(cur.Settings)
		i := slices.IndexFunc(list, func(s delivery.Setting) bool { return s.Key() == key })
		if i < 0 {
			list = append(list, delivery.Setting{Protocol: protocol, Address: address})
			i = len(list) - 1
		}
		if list[i].Paused == paused {
			return nil, errUnchanged
		}
		list[i].Paused = paused
		if list, err = normalizeSettings(list); err != nil {
			return nil, err
		}
		ev := c.event(EventDeliveryUpdated, user, 0, Meta{})
		ev.Settings = list
		return &ev, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.WaitProjected(ctx, seq)
}

var _ delivery.Pauser = (*Commands)(nil)
