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

// imageUploaderFields reads body[key] for each key, rendered with str()
// (as an f-string shows it); ok is false where Python raises (a key
// missing): the property then keeps the base class's value.
func imageUploaderFields(b Value, keys ...string) ([]string, bool) {
	out := make([]string, len(keys))
	for i, k := range keys {
		v, ok := ncKey(b, k)
		if !ok {
			return nil, false
		}
		out[i] = PyStr(v)
	}
	return out, true
}

// AwsPublishedV1: regions maps each AWS region to the AMI id.
func imageUploaderAWS(x *Extraction) {
	b := x.Body.Value
	regions, okRegions := ncKey(b, "regions")
	if f, ok := imageUploaderFields(b, "compose_id", "image_name"); ok {
		if n, ok := ncLen(regions); ok && okRegions {
			x.Summary = imageUploaderApp + " published AWS images from compose " + f[0] + " as " + f[1] +
				" in " + strconv.Itoa(n) + " regions"
		}
	}
	// __str__ reads the fields, then regions.items(), which only a dict
	// has.
	f, ok := imageUploaderFields(b, "architecture", "compose_id", "image_name")
	if !ok || regions.Kind() != KindObject {
		return
	}
	var pairs string
	for i, m := range regions.pyMembers() {
		if i > 0 {
			pairs += ", "
		}
		pairs += m.key + " as " + PyStr(m.val)
	}
	x.Text = "A new image has been published to Amazon Web Services:\n\n" +
		"\tArchitecture: " + f[0] + "\n" +
		"\tCompose ID: " + f[1] + "\n" +
		"\tImage Name: " + f[2] + "\n" +
		"\tRegions: " + pairs + "\n"
}

// AzurePublishedV1: an image version in an image definition of the
// community gallery, replicated to regions.
func imageUploaderAzure(x *Extraction) {
	b := x.Body.Value
	if f, ok := imageUploaderFields(b, "compose_id", "image_version_name", "image_definition_name"); ok {
		x.Summary = imageUploaderApp + " published Azure image from compose " + f[0] + " as version " + f[1] + " to " + f[2]
	}
	f, ok := imageUploaderFields(b, "architecture", "compose_id", "image_definition_name", "image_version_name", "image_resource_id")
	if !ok {
		return
	}
	regions, ok := ncKey(b, "regions")
	if !ok {
		return
	}
	joined, ok := ncJoin(", ", regions)
	if !ok {
		return
	}
	x.Text = "A new image has been published to the Azure image gallery:\n\n" +
		"\tArchitecture: " + f[0] + "\n" +
		"\tCompose ID: " + f[1] + "\n" +
		"\tImage Definition Name: " + f[2] + "\n" +
		"\tImage Version Name: " + f[3] + "\n" +
		"\tImage Resource ID: " + f[4] + "\n" +
		"\tRegions: " + joined + "\n"
}

// ContainerPublishedV1: a manifest list pushed to registries under tags.
func imageUploaderContainer(x *Extraction) {
	b := x.Body.Value
	registries, okReg := ncKey(b, "registries")
	tags, okTags := ncKey(b, "tags")
	repository, okRepo := ncKey(b, "repository")
	// containers: f"{registry}/{repository}:{tag}" for each registry and
	// tag. Python raises where a list is missing or not iterable (fmn then
	// lists none); body["tags"] and body["repository"] are only read
	// inside the loop over the registries.
	if regs, _, ok := ncIter(registries); ok && okReg {
		if len(regs) > 0 {
			if ts, _, ok := ncIter(tags); ok && okTags && okRepo {
				repo := PyStr(repository)
				for _, r := range regs {
					for _, t := range ts {
						x.Containers = append(x.Containers, r+"/"+repo+":"+t)
					}
				}
			}
		}
	}
	if compose, ok := ncKey(b, "compose_id"); ok && okReg {
		if joined, ok := ncJoin(", ", registries); ok {
			x.Summary = imageUploaderApp + " published container manifest from compose " + PyStr(compose) + " to " + joined + "."
		}
	}
	// __str__ formats its fields in order; any that raises loses it.
	compose, ok := ncKey(b, "compose_id")
	if !ok || !okReg || !okRepo || !okTags {
		return
	}
	regText, ok1 := ncJoin(", ", registries)
	tagText, ok2 := ncJoin(", ", tags)
	arches, ok3 := ncKey(b, "architectures")
	archText, ok4 := ncJoin(", ", arches)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return
	}
	x.Text = "A new container manifest has been published:\n\n" +
		"\tCompose ID: " + PyStr(compose) + "\n" +
		"\tRegistries: " + regText + "\n" +
		"\tRepository: " + PyStr(repository) + "\n" +
		"\tTags: " + tagText + "\n" +
		"\tArchitectures: " + archText + "\n"
}
