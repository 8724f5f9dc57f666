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
	s := func(agent, summary string) schemaWant {
		return schemaWant{App: "kerneltest", Agent: agent, Summary: summary, Text: summary}
	}
	schemaRun(t, []schemaCase{
		{name: "upload", schema: upload, topic: "org.fedoraproject.prod.kerneltest.upload.new",
			body: `{"agent": "dummy-user", "test": ` + test + `}`,
			want: s("dummy-user", "dummy-user uploaded new kernel test results for 6.9.0-0.rc0.20240314git480e035fc4c7.5.fc41.aarch64")},
		{name: "upload without agent: None", schema: upload, topic: "org.fedoraproject.prod.kerneltest.upload.new",
			body: `{"test": ` + test + `}`,
			want: s("", "None uploaded new kernel test results for 6.9.0-0.rc0.20240314git480e035fc4c7.5.fc41.aarch64")},
		{name: "release new", schema: newRel, topic: "org.fedoraproject.prod.kerneltest.release.new",
			body: `{"agent": "admin", "release": {"support": "RELEASE", "releasenum": 40}}`,
			want: s("admin", "admin created a new release 40 with status RELEASE")},
		{name: "release edit", schema: editRel, topic: "org.fedoraproject.prod.kerneltest.release.edit",
			body: `{"agent": "admin", "release": {"support": "RAWHIDE", "releasenum": "41"}}`,
			want: s("admin", "admin edited release 41 with status RAWHIDE")},
		// Properties that raise in Python.
		{name: "upload without kernel_version (test_invalid_field_required)", schema: upload, topic: "org.fedoraproject.prod.kerneltest.upload.new",
			body: `{"agent": "dummy-user", "test": {"result": "asdfasdf"}}`,
			want: schemaWant{App: "kerneltest", Agent: "dummy-user"}},
		{name: "release without support", schema: newRel, topic: "org.fedoraproject.prod.kerneltest.release.new",
			body: `{"agent": "admin", "release": {"releasenum": 40}}`,
			want: schemaWant{App: "kerneltest", Agent: "admin"}},
		{name: "body not an object", schema: editRel, topic: "org.fedoraproject.prod.kerneltest.release.edit",
			body: `[]`,
			want: schemaWant{App: "kerneltest"}},
	})
}
