package app

import "runtime/debug"

// Version is set at build time with -ldflags "-X github.com/fmn-project/fmn/app.Version=…".
var Version = "dev"

// VersionString is Version with the VCS revision and the Go version.
func VersionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}
