package bus

import "strconv"

// mdapi-messages 1.0.0: what mdapi (the repository metadata API) publishes
// when it has imported a repository's new metadata: the repository's name
// (e.g. "rawhide"), the packages whose details changed, and the path of
// the repomd.xml it read.
//
// RepoUpdateV1 overrides summary and __str__; its base class
// (mdapiMessage) sets app_name "mdapi" and app_icon. Nothing else is
// overridden: no agent, no users, no URL, and no packages (the base
// class's empty list; the package's own property test checks app_name and
// app_icon only, which is all its base defines).
//
// Source read: mdapi_messages/messages.py and mdapi_messages/tests
// (test_schema.py, test_properties.py), from stored copies that carry no
// repository name (the upstream repository was not identified; mdapi's
// own, fedora-infra/mdapi, only uses the package); base.py itself was not
// found. mdapi-messages has had one release, 1.0.0 (mdapi's lock file).

func init() {
	RegisterPackage(Package{Name: "mdapi-messages", Version: "1.0.0", Source: "mdapi-messages (upstream repository not identified)",
		Schemas: []Schema{
			{Name: "mdapi.repo.update", Class: "mdapi_messages.messages:RepoUpdateV1", App: "mdapi", Extract: mdapiRepoUpdate},
		}})
}

// mdapiRepoUpdate is RepoUpdateV1. Where Python raises (name or packages
// missing, packages not iterable, a package that is no string for the
// join), the property keeps the base class's value.
func mdapiRepoUpdate(x *Extraction) {
	if !x.Display() {
		return // the class derives nothing matching reads
	}
	b := x.Body
	PyTry(func() {
		x.Summary = "MDAPI updated repo " + PyStr(b.PyItem("name")) + " with new details for " +
			strconv.Itoa(PyLen(b.PyItem("packages"))) + " packages"
	})
	PyTry(func() {
		x.Text = "MDAPI updated repo " + PyStr(b.PyItem("name")) + " with new details for the packages: " +
			PyJoin(", ", b.PyItem("packages"))
	})
}
