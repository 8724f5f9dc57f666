package bus

// Koschei's messages (koschei-messages 1.0.1, read in
// fedora-infra/koschei-messages at v1.0.1). Both classes use the summary
// as the text.

func init() {
	const app = "Koschei"
	RegisterPackage(Package{Name: "koschei-messages", Version: "1.0.1", Source: "fedora-infra/koschei-messages",
		Schemas: []Schema{
			{Name: "koschei.package.state.change", Class: "koschei_messages.package:PackageStateChange",
				App: app, Extract: koscheiPackageStateChange},
			{Name: "koschei.collection.state.change", Class: "koschei_messages.collection:CollectionStateChange",
				App: app, Extract: koscheiCollectionStateChange},
		}})
}

const koscheiURL = "https://koschei.fedoraproject.org"

// koscheiInstance returns the summary's suffix naming a Koji instance
// other than the primary one.
func koscheiInstance(b Body) string {
	ki := b.Get("koji_instance")
	if s, ok := ki.StrOK(); ok && s == "primary" {
		return ""
	}
	return " (" + PyStr(ki) + ")"
}

// koscheiPackageStateChange: PackageStateChange.
//
// Where Python raises KeyError, fmn derives: for a new state the summary's
// table does not know (Koschei also has blocked, untracked, unknown),
// "<name>'s state changed from <old> to <new>"; a missing key reads as
// None.
func koscheiPackageStateChange(x *Extraction) {
	b := x.Body
	x.Groups = b.Get("groups").Strings()
	x.Packages = Strs(b.Get("name"))
	if !x.Display() {
		return
	}
	name, collection := PyStr(b.Get("name")), PyStr(b.Get("collection"))
	newV, oldV := b.Get("new"), b.Get("old")
	var info string
	newS, _ := newV.StrOK()
	switch {
	case newS == "ok" && oldV.Kind() == KindString && oldV.Str() == "ignored":
		info = name + " added to Koschei"
	case newS == "failing":
		info = name + "'s builds started to fail"
	case newS == "ok":
		info = name + "'s builds are back to normal"
	case newS == "ignored":
		info = name + " became retired or ignored"
	case newS == "unresolved":
		info = name + "'s dependencies failed to resolve"
	default:
		info = name + "'s state changed from " + PyStr(oldV) + " to " + PyStr(newV)
	}
	x.Summary = info + " in " + collection + koscheiInstance(b)
	x.Text = x.Summary
	x.URL = koscheiURL + "/package/" + name + "?collection=" + collection
}

// koscheiCollectionStateChange: CollectionStateChange.
//
// Where Python raises KeyError, fmn derives: for a new state the summary's
// table does not know, "<collection> buildroot state changed from <old>
// to <new>"; a missing key reads as None.
func koscheiCollectionStateChange(x *Extraction) {
	if !x.Display() {
		return // the class derives nothing matching reads
	}
	b := x.Body
	collection := PyStr(b.Get("collection_name"))
	newV, oldV := b.Get("new"), b.Get("old")
	var info string
	newS, _ := newV.StrOK()
	switch {
	case newS == "ok" && oldV.Kind() == KindString && oldV.Str() == "unknown":
		info = collection + " added to Koschei"
	case newS == "ok":
		info = collection + " buildroot was fixed"
	case newS == "unresolved":
		info = collection + " buildroot was broken"
	default:
		info = collection + " buildroot state changed from " + PyStr(oldV) + " to " + PyStr(newV)
	}
	x.Summary = info + koscheiInstance(b)
	x.Text = x.Summary
	x.URL = koscheiURL + "/collection/" + PyStr(b.Get("collection"))
}
