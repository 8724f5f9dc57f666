//go:build !race

package fmntest

const raceEnabled = false
