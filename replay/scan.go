// Package replay is fmn's operators' toolbox over the streams: it reads BUS
// history through the rules without side effects (and explains why a rule
// did not match), re-delivers notifications as deliberate, traceable runs,
// works the dead letters, and tells a user's rule history.
//
// Everything reads with ordered consumers (streams.Scan), which leave the
// production durables untouched and cost the server nothing once done.
package replay

import "github.com/fmn-project/fmn/streams"

// Selection picks stored messages of a stream (see streams.Selection).
type Selection = streams.Selection

// Progress counts the messages read (see streams.Progress).
type Progress = streams.Progress
