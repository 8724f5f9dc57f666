package bus

// fmn-messages: FMN's own rule changes. The classes override only the app
// name (and icon): summary, text and the rest are the base class's.

func init() {
	RegisterPackage(Package{Name: "fmn-messages", Version: "1.0.0", Source: "fedora-infra/fmn",
		Schemas: []Schema{
			{Name: "fmn.rule.create.v1", Class: "fmn_messages.rule:RuleCreateV1", App: "FMN"},
			{Name: "fmn.rule.update.v1", Class: "fmn_messages.rule:RuleUpdateV1", App: "FMN"},
			{Name: "fmn.rule.delete.v1", Class: "fmn_messages.rule:RuleDeleteV1", App: "FMN"},
		}})
}
