package bus

// fedora-elections-messages 1.0.1: the messages of Fedora Elections
// (elections.fedoraproject.org) when an admin creates or edits an
// election, or adds, edits or deletes a candidate. Every body carries the
// agent (the admin's username) and the election (its JSON dump); candidate
// messages also the candidate (name, url, optional fas_name).
//
// The base class (ElectionsMessage) has app_name "elections", usernames
// [agent] (candidate messages add the candidate's fas_name, sorted), url
// election.url, and an `agent` property but no agent_name: FMN's agent is
// None for these messages, and so is fmn's.
//
// Source read: fedora_elections_messages base.py, election_new.py,
// candidate_new.py, candidate_delete.py and setup.py (upstream
// pagure.io/elections-messages; the stored copies carry no repository name
// and setup.py says 1.0.0, the release before the 1.0.1 FMN v3 installs).
// election_edit.py and candidate_edit.py were not found: their summary and
// __str__ below are reconstructed after their siblings (see
// electionsEdited and electionsCandidateEdited); their other properties
// are the base class's, which were read.

func init() {
	RegisterPackage(Package{Name: "fedora-elections-messages", Version: "1.0.1", Source: "pagure.io/elections-messages",
		Schemas: []Schema{
			{Name: "fedora_elections.election.new", Class: "fedora_elections_messages.election_new:NewElectionV1",
				App: "elections", Extract: electionsExtract(electionsCreated, false)},
			{Name: "fedora_elections.election.edit", Class: "fedora_elections_messages.election_edit:EditElectionV1",
				App: "elections", Extract: electionsExtract(electionsEdited, false)},
			{Name: "fedora_elections.candidate.new", Class: "fedora_elections_messages.candidate_new:NewCandidateV1",
				App: "elections", Extract: electionsExtract(electionsCandidateAdded, true)},
			{Name: "fedora_elections.candidate.edit", Class: "fedora_elections_messages.candidate_edit:EditCandidateV1",
				App: "elections", Extract: electionsExtract(electionsCandidateEdited, true)},
			{Name: "fedora_elections.candidate.delete", Class: "fedora_elections_messages.candidate_delete:DeleteCandidateV1",
				App: "elections", Extract: electionsExtract(electionsCandidateDeleted, true)},
		}})
}

// electionsMsg reads the body members the classes format, each rendered
// with str() (as str.format does); each raises where Python's lookup does
// (a member missing or of the wrong type), and a property that raises
// keeps the base class's value in fmn.
type electionsMsg struct{ b Body }

func (m electionsMsg) agent() string     { return PyStr(m.b.PyItem("agent")) }
func (m electionsMsg) title() string     { return PyStr(m.b.PyItem("election", "shortdesc")) }
func (m electionsMsg) alias() string     { return PyStr(m.b.PyItem("election", "alias")) }
func (m electionsMsg) candidate() string { return PyStr(m.b.PyItem("candidate", "name")) }

// fasName is candidate.get("fas_name").
func (m electionsMsg) fasName() Value { return m.b.PyItem("candidate").PyGet("fas_name") }

// electionsClass is a class's summary and __str__.
type electionsClass struct{ summary, text func(m electionsMsg) string }

// electionsExtract returns the extractor of an election class, or of a
// candidate class (CandidateMessage).
func electionsExtract(c electionsClass, candidate bool) func(x *Extraction) {
	return func(x *Extraction) {
		b := x.Body
		m := electionsMsg{b}
		// ElectionsMessage: usernames [agent] (body.get("agent"); a missing
		// agent is None, which names no one) and url election.url (Python
		// raises without an election object: fmn has no URL).
		PyTry(func() { x.Usernames = Strs(b.PyGet("agent")) })
		if candidate {
			// CandidateMessage.usernames: [agent] plus the candidate's
			// fas_name when truthy, sorted. Python raises where the body
			// has no candidate object (KeyError, AttributeError), and where
			// sorting meets a None or non-string (TypeError): fmn keeps the
			// names it has.
			PyTry(func() {
				if fas := m.fasName(); fas.Truthy() {
					x.Usernames = append(x.Usernames, Strs(fas)...)
				}
			})
		}
		if !x.Display() {
			return
		}
		PyTry(func() { x.URL = PyOptStr(b.PyItem("election", "url")) })
		PyTry(func() { x.Summary = c.summary(m) })
		PyTry(func() { x.Text = c.text(m) })
	}
}

// NewElectionV1.
var electionsCreated = electionsClass{
	summary: func(m electionsMsg) string {
		return m.agent() + ` created election "` + m.title() + `" (` + m.alias() + `)`
	},
	text: func(m electionsMsg) string { return "New Election: " + m.title() + "\nBy: " + m.agent() + "\n" },
}

// EditElectionV1 (reconstructed: election_edit.py was not found; worded
// after NewElectionV1 and the fedmsg-era "edited election" subtitle).
var electionsEdited = electionsClass{
	summary: func(m electionsMsg) string {
		return m.agent() + ` edited election "` + m.title() + `" (` + m.alias() + `)`
	},
	text: func(m electionsMsg) string { return "Edited Election: " + m.title() + "\nBy: " + m.agent() + "\n" },
}

// electionsCandidateSummary words a candidate class's summary with its
// verb: the candidate's fas_name in parentheses when it is truthy.
func electionsCandidateSummary(verb string) func(m electionsMsg) string {
	return func(m electionsMsg) string {
		s := m.agent() + " " + verb + ` candidate "` + m.candidate() + `" `
		if fas := m.fasName(); fas.Truthy() {
			s += "(" + PyStr(fas) + ") "
		}
		return s + `for election "` + m.title() + `" (` + m.alias() + `)`
	}
}

// NewCandidateV1.
var electionsCandidateAdded = electionsClass{
	summary: electionsCandidateSummary("added"),
	text: func(m electionsMsg) string {
		return "New Candidate for Election: " + m.title() + "\nBy: " + m.agent() + "\nCandidate: " + m.candidate() + "\n"
	},
}

// EditCandidateV1 (reconstructed: candidate_edit.py was not found; worded
// after NewCandidateV1 and DeleteCandidateV1).
var electionsCandidateEdited = electionsClass{
	summary: electionsCandidateSummary("edited"),
	text: func(m electionsMsg) string {
		return "Candidate for Election " + m.title() + " was edited\nBy: " + m.agent() + "\nCandidate: " + m.candidate() + "\n"
	},
}

// DeleteCandidateV1.
var electionsCandidateDeleted = electionsClass{
	summary: electionsCandidateSummary("deleted"),
	text: func(m electionsMsg) string {
		return "Candidate for Election " + m.title() + " was deleted\nBy: " + m.agent() + "\nCandidate: " + m.candidate() + "\n"
	},
}
