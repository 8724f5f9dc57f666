package bus

import "testing"

// Upload bodies from kerneltest-messages' tests (tests/utils.py); the
// release bodies follow the classes' schema (RELEASE_SCHEMA), which the
// package's tests do not exercise.
func TestKerneltestMessages(t *testing.T) {
	t.Parallel()
	const (
		upload  = "kerneltest.upload.new.v1"
		newRel  = "kerneltest.release.new.v1"
		editRel = "kerneltest.release.edit.v1"
	)
	const test = `{"arch": "aarch64", "authenticated": true, "failed_tests": "None", "fedora_version": 41,
 "kernel_version": "6.9.0-0.rc0.20240314git480e035fc4c7.5.fc41.aarch64", "release": "Fedora release 38 (Thirty Eight)",
 "result": "PASS", "testdate": "Wed Mar 27 06:26:06 PM EDT 2024", "tester": "dummy-user", "testset": "default"}`
	s := func(agent, summary string) miscWant {
		return miscWant{App: "kerneltest", Agent: agent, Summary: summary, Text: summary}
	}
	miscRun(t, []miscCase{
		{"upload", upload, "kerneltest.upload.new", `{"agent": "dummy-user", "test": ` + test + `}`,
			s("dummy-user", "dummy-user uploaded new kernel test results for 6.9.0-0.rc0.20240314git480e035fc4c7.5.fc41.aarch64")},
		{"upload without agent: None", upload, "kerneltest.upload.new", `{"test": ` + test + `}`,
			s("", "None uploaded new kernel test results for 6.9.0-0.rc0.20240314git480e035fc4c7.5.fc41.aarch64")},
		{"release new", newRel, "kerneltest.release.new", `{"agent": "admin", "release": {"support": "RELEASE", "releasenum": 40}}`,
			s("admin", "admin created a new release 40 with status RELEASE")},
		{"release edit", editRel, "kerneltest.release.edit", `{"agent": "admin", "release": {"support": "RAWHIDE", "releasenum": "41"}}`,
			s("admin", "admin edited release 41 with status RAWHIDE")},
		// Properties that raise in Python.
		{"upload without kernel_version (test_invalid_field_required)", upload, "kerneltest.upload.new",
			`{"agent": "dummy-user", "test": {"result": "asdfasdf"}}`,
			miscWant{App: "kerneltest", Agent: "dummy-user", Text: miscBase}},
		{"release without support", newRel, "kerneltest.release.new", `{"agent": "admin", "release": {"releasenum": 40}}`,
			miscWant{App: "kerneltest", Agent: "admin", Text: miscBase}},
		{"body not an object", editRel, "kerneltest.release.edit", `[]`, miscWant{App: "kerneltest", Text: miscBase}},
	})
}
