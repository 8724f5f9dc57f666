package bus

// kerneltest-messages: kernel test results uploaded to kerneltest, and the
// releases its admins create and edit. The agent is body.get("agent"),
// written "None" in the summary when absent; no usernames; the text is the
// summary.

func init() {
	RegisterPackage(Package{Name: "kerneltest-messages", Version: "1.0.0", Source: "fedora-infra/kerneltest-messages",
		Schemas: []Schema{
			{Name: "kerneltest.upload.new.v1", Class: "kerneltest_messages:UploadNewV1", App: "kerneltest",
				Extract: kerneltestExtract(func(b Body, agent string) string {
					return agent + " uploaded new kernel test results for " +
						PyStr(b.PyItem("test", "kernel_version"))
				})},
			{Name: "kerneltest.release.new.v1", Class: "kerneltest_messages:ReleaseNewV1", App: "kerneltest",
				Extract: kerneltestExtract(func(b Body, agent string) string {
					return agent + " created a new release " + kerneltestRelease(b)
				})},
			{Name: "kerneltest.release.edit.v1", Class: "kerneltest_messages:ReleaseEditV1", App: "kerneltest",
				Extract: kerneltestExtract(func(b Body, agent string) string {
					return agent + " edited release " + kerneltestRelease(b)
				})},
		}})
}

// kerneltestRelease is "<releasenum> with status <support>".
func kerneltestRelease(b Body) string {
	r := b.PyItem("release")
	return PyStr(r.PyItem("releasenum")) + " with status " + PyStr(r.PyItem("support"))
}

func kerneltestExtract(summary func(b Body, agent string) string) func(x *Extraction) {
	return func(x *Extraction) {
		var agent Value
		if !PyTry(func() { agent = x.Body.PyGet("agent") }) {
			return // not an object: every property raises
		}
		x.Agent = PyOptStr(agent)
		if !x.Display() {
			return
		}
		PyTry(func() {
			s := summary(x.Body, PyStr(agent))
			x.Summary, x.Text = s, s
		})
	}
}
