// Package wire is fmn's contract between processes: the subjects messages
// are published on, the names of the headers they carry, and the events one
// process writes for another to read (DESIGN.md, "Streams and subjects").
// Values here are relied on by deployments (NATS permissions, stored
// streams, operators' tools): they may be added to, never changed.
//
// It imports only the standard library, so that any package, the pure ones
// included (bus), can name a subject or a header without depending on the
// JetStream topology (streams) or on another role's package.
package wire
