//go:build race

package fmntest

// raceEnabled: the race detector slows code five to ten times.
const raceEnabled = true
