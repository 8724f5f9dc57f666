package bus

import "strconv"

// fedora-image-uploader-messages 1.1.0: what fedora-image-uploader
// publishes when it has uploaded a compose's cloud image to Amazon Web
// Services or Azure, or pushed a container manifest to the registries.
// The classes have app_name "fedora-image-uploader", no agent, no users and
// no URL; the container class lists the containers it pushed
// (<registry>/<repository>:<tag> for each registry and tag).
//
// Source read: fedora_image_uploader_messages/publish.py and
// tests/test_schema.py (upstream pagure.io/cloud-image-uploader; the stored
// copies carry no repository name). The newest stored publish.py also has
// GcpPublishedV1 (fedora_image_uploader.published.v1.gcp), added after
// 1.1.0: the schema list fedora-messaging generated from 1.1.0 on the day
// FMN v3 locked it (2024-09-20) names only aws, azure and container, so
// fmn, following FMN v3, does not register it either.

func init() {
	RegisterPackage(Package{Name: "fedora-image-uploader-messages", Version: "1.1.0", Source: "pagure.io/cloud-image-uploader",
		Schemas: []Schema{
			{Name: "fedora_image_uploader.published.v1.aws", Class: "fedora_image_uploader_messages.publish:AwsPublishedV1",
				App: imageUploaderApp, Extract: imageUploaderAWS},
			{Name: "fedora_image_uploader.published.v1.azure", Class: "fedora_image_uploader_messages.publish:AzurePublishedV1",
				App: imageUploaderApp, Extract: imageUploaderAzure},
			{Name: "fedora_image_uploader.published.v1.container", Class: "fedora_image_uploader_messages.publish:ContainerPublishedV1",
				App: imageUploaderApp, Extract: imageUploaderContainer},
		}})
}

const imageUploaderApp = "fedora-image-uploader"

// Each property reads body[key] (rendered with str(), as an f-string shows
// it): where Python raises (a key missing, a value of the wrong type) the
// property keeps the base class's value.

// AwsPublishedV1: regions maps each AWS region to the AMI id.
func imageUploaderAWS(x *Extraction) {
	if !x.Display() {
		return // the class derives nothing matching reads
	}
	b := x.Body
	f := func(k string) string { return PyStr(b.PyItem(k)) }
	PyTry(func() {
		x.Summary = imageUploaderApp + " published AWS images from compose " + f("compose_id") + " as " + f("image_name") +
			" in " + strconv.Itoa(PyLen(b.PyItem("regions"))) + " regions"
	})
	PyTry(func() {
		head := "A new image has been published to Amazon Web Services:\n\n" +
			"\tArchitecture: " + f("architecture") + "\n" +
			"\tCompose ID: " + f("compose_id") + "\n" +
			"\tImage Name: " + f("image_name") + "\n"
		// regions.items(), which only a dict has.
		regions := b.PyItem("regions")
		if regions.Kind() != KindObject {
			PyRaise("AttributeError", "object has no attribute 'items'")
		}
		var pairs string
		for i, m := range regions.pyMembers() {
			if i > 0 {
				pairs += ", "
			}
			pairs += m.key + " as " + PyStr(m.val)
		}
		x.Text = head + "\tRegions: " + pairs + "\n"
	})
}

// AzurePublishedV1: an image version in an image definition of the
// community gallery, replicated to regions.
func imageUploaderAzure(x *Extraction) {
	if !x.Display() {
		return // the class derives nothing matching reads
	}
	b := x.Body
	f := func(k string) string { return PyStr(b.PyItem(k)) }
	PyTry(func() {
		x.Summary = imageUploaderApp + " published Azure image from compose " + f("compose_id") +
			" as version " + f("image_version_name") + " to " + f("image_definition_name")
	})
	PyTry(func() {
		x.Text = "A new image has been published to the Azure image gallery:\n\n" +
			"\tArchitecture: " + f("architecture") + "\n" +
			"\tCompose ID: " + f("compose_id") + "\n" +
			"\tImage Definition Name: " + f("image_definition_name") + "\n" +
			"\tImage Version Name: " + f("image_version_name") + "\n" +
			"\tImage Resource ID: " + f("image_resource_id") + "\n" +
			"\tRegions: " + PyJoin(", ", b.PyItem("regions")) + "\n"
	})
}

// ContainerPublishedV1: a manifest list pushed to registries under tags.
func imageUploaderContainer(x *Extraction) {
	b := x.Body
	f := func(k string) string { return PyStr(b.PyItem(k)) }
	// containers: f"{registry}/{repository}:{tag}" for each registry and
	// tag; body["tags"] and body["repository"] are only read inside the
	// loop over the registries.
	PyTry(func() {
		regs := PyStrs(b.PyItem("registries"))
		if len(regs) == 0 {
			return
		}
		tags, repo := PyStrs(b.PyItem("tags")), f("repository")
		var out []string
		for _, r := range regs {
			for _, t := range tags {
				out = append(out, r+"/"+repo+":"+t)
			}
		}
		x.Containers = out
	})
	if !x.Display() {
		return
	}
	PyTry(func() {
		x.Summary = imageUploaderApp + " published container manifest from compose " + f("compose_id") + " to " +
			PyJoin(", ", b.PyItem("registries")) + "."
	})
	PyTry(func() {
		x.Text = "A new container manifest has been published:\n\n" +
			"\tCompose ID: " + f("compose_id") + "\n" +
			"\tRegistries: " + PyJoin(", ", b.PyItem("registries")) + "\n" +
			"\tRepository: " + f("repository") + "\n" +
			"\tTags: " + PyJoin(", ", b.PyItem("tags")) + "\n" +
			"\tArchitectures: " + PyJoin(", ", b.PyItem("architectures")) + "\n"
	})
}
