package bus

import "testing"

func TestFedoraImageUploaderMessagesSchemas(t *testing.T) {
	t.Parallel()
	iu := func(c schemaCase) schemaCase { c.want.App = "fedora-image-uploader"; return c }
	cases := []schemaCase{
		// The package's tests/test_schema.py (test_aws_display,
		// test_azure_str, test_container_str), on bus topics.
		iu(schemaCase{name: "aws", schema: "fedora_image_uploader.published.v1.aws", topic: "org.fedoraproject.prod.fedora_image_uploader.published.v1.aws.Cloud_Base.40.x86_64",
			body: `{"architecture":"x86_64","compose_id":"Fedora-40-20240501.n.0","image_name":"Fedora-Cloud-AmazonEC2",
				"regions":{"us-east-2":"ami-123","us-west-1":"ami-321"},"release":40,"subvariant":"Cloud_Base"}`,
			want: schemaWant{Summary: "fedora-image-uploader published AWS images from compose Fedora-40-20240501.n.0 as Fedora-Cloud-AmazonEC2 in 2 regions",
				Text: "A new image has been published to Amazon Web Services:\n\n" +
					"\tArchitecture: x86_64\n\tCompose ID: Fedora-40-20240501.n.0\n\tImage Name: Fedora-Cloud-AmazonEC2\n" +
					"\tRegions: us-east-2 as ami-123, us-west-1 as ami-321\n"}}),
		iu(schemaCase{name: "azure", schema: "fedora_image_uploader.published.v1.azure", topic: "org.fedoraproject.prod.fedora_image_uploader.published.v1.azure.Fedora-Cloud-40-x64",
			body: `{"architecture":"x86_64","compose_id":"Fedora-40-20240501.n.0","image_definition_name":"Fedora-Cloud-40-x64",
				"image_version_name":"40.20240501.0",
				"image_resource_id":"/CommunityGalleries/Fedora-5e266ba4-2250-406d-adad-5d73860d958f/Images/Fedora-Cloud-40-x64/Versions/40.20240501.0",
				"regions":["eastus","eastus2","centralus"],"release":40,"subvariant":"Cloud_Base"}`,
			want: schemaWant{Summary: "fedora-image-uploader published Azure image from compose Fedora-40-20240501.n.0 as version 40.20240501.0 to Fedora-Cloud-40-x64",
				Text: "A new image has been published to the Azure image gallery:\n\n" +
					"\tArchitecture: x86_64\n\tCompose ID: Fedora-40-20240501.n.0\n\tImage Definition Name: Fedora-Cloud-40-x64\n" +
					"\tImage Version Name: 40.20240501.0\n" +
					"\tImage Resource ID: /CommunityGalleries/Fedora-5e266ba4-2250-406d-adad-5d73860d958f/Images/Fedora-Cloud-40-x64/Versions/40.20240501.0\n" +
					"\tRegions: eastus, eastus2, centralus\n"}}),
		iu(schemaCase{name: "container", schema: "fedora_image_uploader.published.v1.container",
			body: `{"architectures":["x86_64","ppc64le","aarch64","s390x"],"compose_id":"Fedora-40-20240501.n.0",
				"registries":["quay.io/fedora","registry.fedoraproject.org"],"repository":"fedora","tags":["40","latest"]}`,
			want: schemaWant{Containers: []string{"quay.io/fedora/fedora:40", "quay.io/fedora/fedora:latest",
				"registry.fedoraproject.org/fedora:40", "registry.fedoraproject.org/fedora:latest"},
				Summary: "fedora-image-uploader published container manifest from compose Fedora-40-20240501.n.0 to quay.io/fedora, registry.fedoraproject.org.",
				Text: "A new container manifest has been published:\n\n" +
					"\tCompose ID: Fedora-40-20240501.n.0\n\tRegistries: quay.io/fedora, registry.fedoraproject.org\n" +
					"\tRepository: fedora\n\tTags: 40, latest\n\tArchitectures: x86_64, ppc64le, aarch64, s390x\n"}}),
		// A real AWS message of September 2024 (from a datagrepper dump),
		// shortened to three regions.
		iu(schemaCase{name: "aws, bus message", schema: "fedora_image_uploader.published.v1.aws", topic: "org.fedoraproject.prod.fedora_image_uploader.published.v1.aws.Cloud_Base.41.x86_64",
			body: `{"architecture":"x86_64","compose_id":"Fedora-41-20240911.0","image_name":"Fedora-Cloud-Base-AmazonEC2.x86_64-41-Prerelease-1.2",
				"regions":{"af-south-1":"ami-0cc8a1f67b7c1c5f1","us-east-1":"ami-0a1a3731a749a16db","us-west-2":"ami-01ef26235a840d0d6"}}`,
			want: schemaWant{Summary: "fedora-image-uploader published AWS images from compose Fedora-41-20240911.0 as Fedora-Cloud-Base-AmazonEC2.x86_64-41-Prerelease-1.2 in 3 regions",
				Text: "A new image has been published to Amazon Web Services:\n\n" +
					"\tArchitecture: x86_64\n\tCompose ID: Fedora-41-20240911.0\n\tImage Name: Fedora-Cloud-Base-AmazonEC2.x86_64-41-Prerelease-1.2\n" +
					"\tRegions: af-south-1 as ami-0cc8a1f67b7c1c5f1, us-east-1 as ami-0a1a3731a749a16db, us-west-2 as ami-01ef26235a840d0d6\n"}}),

		// Other shapes.
		iu(schemaCase{name: "container without registries", schema: "fedora_image_uploader.published.v1.container",
			body: `{"architectures":[],"compose_id":"C","registries":[],"repository":"fedora","tags":["41"]}`,
			want: schemaWant{Summary: "fedora-image-uploader published container manifest from compose C to .",
				Text: "A new container manifest has been published:\n\n" +
					"\tCompose ID: C\n\tRegistries: \n\tRepository: fedora\n\tTags: 41\n\tArchitectures: \n"}}),
		iu(schemaCase{name: "aws: region ids that are no strings", schema: "fedora_image_uploader.published.v1.aws",
			body: `{"architecture":"aarch64","compose_id":"C","image_name":"I","regions":{"eu-west-1":null,"eu-west-2":7}}`,
			want: schemaWant{Summary: "fedora-image-uploader published AWS images from compose C as I in 2 regions",
				Text: "A new image has been published to Amazon Web Services:\n\n" +
					"\tArchitecture: aarch64\n\tCompose ID: C\n\tImage Name: I\n\tRegions: eu-west-1 as None, eu-west-2 as 7\n"}}),

		// Bodies where Python raises: those properties keep the base
		// class's values.
		iu(schemaCase{name: "aws: regions a list", schema: "fedora_image_uploader.published.v1.aws",
			body:   `{"architecture":"x86_64","compose_id":"C","image_name":"I","regions":["us-east-1"]}`,
			raises: "__str__ (a list has no items)",
			want:   schemaWant{Summary: "fedora-image-uploader published AWS images from compose C as I in 1 regions"}}),
		iu(schemaCase{name: "azure: a region that is no string", schema: "fedora_image_uploader.published.v1.azure",
			body: `{"architecture":"x86_64","compose_id":"C","image_definition_name":"D","image_version_name":"V",
				"image_resource_id":"R","regions":["eastus",1]}`,
			raises: "__str__ (str.join of an int)",
			want:   schemaWant{Summary: "fedora-image-uploader published Azure image from compose C as version V to D"}}),
		iu(schemaCase{name: "container: no tags", schema: "fedora_image_uploader.published.v1.container",
			body:   `{"architectures":["x86_64"],"compose_id":"C","registries":["quay.io/fedora"],"repository":"fedora"}`,
			raises: "containers and __str__ (KeyError tags)",
			want:   schemaWant{Summary: "fedora-image-uploader published container manifest from compose C to quay.io/fedora."}}),
		iu(schemaCase{name: "empty body", schema: "fedora_image_uploader.published.v1.azure",
			body:   `{}`,
			raises: "summary and __str__ (KeyError)"}),
	}
	schemaRun(t, cases)
}
