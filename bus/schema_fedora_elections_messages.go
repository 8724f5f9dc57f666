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
				App: "elections", Extract: electionsElection(electionsCreated)},
			{Name: "fedora_elections.election.edit", Class: "fedora_elections_messages.election_edit:EditElectionV1",
				App: "elections", Extract: electionsElection(electionsEdited)},
			{Name: "fedora_elections.candidate.new", Class: "fedora_elections_messages.candidate_new:NewCandidateV1",
				App: "elections", Extract: electionsCandidate(electionsCandidateAdded)},
			{Name: "fedora_elections.candidate.edit", Class: "fedora_elections_messages.candidate_edit:EditCandidateV1",
				App: "elections", Extract: electionsCandidate(electionsCandidateEdited)},
			{Name: "fedora_elections.candidate.delete", Class: "fedora_elections_messages.candidate_delete:DeleteCandidateV1",
				App: "elections", Extract: electionsCandidate(electionsCandidateDeleted)},
		}})
}

// electionsFields are the body members a class's summary and __str__
// format, each rendered with str() (as str.format does), and which of the
// two Python computes without raising (a member missing or of the wrong
// type): a property that raises keeps the base class's value in fmn.
type electionsFields struct {
	agent, title, alias string // body["agent"], election["shortdesc"], election["alias"]
	candidate, fasName  string // candidate["name"], candidate.get("fas_name")
	hasFasName          bool   // fas_name is truthy
	summaryOK, textOK   bool
}

// electionsTexts computes a class's summary and __str__ from the fields.
type electionsTexts func(f electionsFields) (summary, text string)

// electionsSet sets the summary and text that Python computes.
func electionsSet(x *Extraction, f electionsFields, texts electionsTexts) {
	summary, text := texts(f)
	if f.summaryOK {
		x.Summary = summary
	}
	if f.textOK {
		x.Text = text
	}
}

// electionsElection returns the extractor of an election class (new,
// edit).
func electionsElection(texts electionsTexts) func(x *Extraction) {
	return func(x *Extraction) {
		b := x.Body.Value
		electionsBase(x, b)
		electionsSet(x, electionsElectionFields(b), texts)
	}
}

// electionsCandidate returns the extractor of a candidate class (new,
// edit, delete).
func electionsCandidate(texts electionsTexts) func(x *Extraction) {
	return func(x *Extraction) {
		b := x.Body.Value
		electionsBase(x, b)
		cand, okCand := ncKey(b, "candidate")
		fas, okFas := ncGet(cand, "fas_name")
		// CandidateMessage.usernames: [agent] plus the candidate's
		// fas_name when truthy, sorted. Python raises where the body has no
		// candidate object (KeyError, AttributeError), and where sorting
		// meets a None or non-string (TypeError): fmn keeps the names it
		// has.
		if okCand && okFas && fas.Truthy() {
			x.Usernames = append(x.Usernames, Strs(fas)...)
		}
		f := electionsElectionFields(b)
		name, okName := ncKey(cand, "name")
		f.candidate, f.fasName, f.hasFasName = PyStr(name), PyStr(fas), fas.Truthy()
		// summary reads candidate.get("fas_name") first, then the
		// election's and the candidate's name; __str__ the name only.
		f.summaryOK = f.summaryOK && okFas && okName
		f.textOK = f.textOK && okName
		electionsSet(x, f, texts)
	}
}

// electionsBase sets what ElectionsMessage computes: usernames [agent]
// (body.get("agent"); a missing agent is None, which names no one) and url
// election.url (Python raises without an election object: fmn has no
// URL).
func electionsBase(x *Extraction, b Value) {
	if agent, ok := ncGet(b, "agent"); ok {
		x.Usernames = Strs(agent)
	}
	if u, ok := ncPath(b, "election", "url"); ok {
		x.URL = ncURL(u)
	}
}

// electionsElectionFields reads body["agent"], election["shortdesc"] and
// election["alias"] (which __str__ does not need).
func electionsElectionFields(b Value) electionsFields {
	agent, okAgent := ncKey(b, "agent")
	title, okTitle := ncPath(b, "election", "shortdesc")
	alias, okAlias := ncPath(b, "election", "alias")
	return electionsFields{agent: PyStr(agent), title: PyStr(title), alias: PyStr(alias),
		summaryOK: okAgent && okTitle && okAlias, textOK: okAgent && okTitle}
}

// NewElectionV1.
func electionsCreated(f electionsFields) (string, string) {
	return f.agent + ` created election "` + f.title + `" (` + f.alias + `)`,
		"New Election: " + f.title + "\nBy: " + f.agent + "\n"
}

// EditElectionV1 (reconstructed: election_edit.py was not found; worded
// after NewElectionV1 and the fedmsg-era "edited election" subtitle).
func electionsEdited(f electionsFields) (string, string) {
	return f.agent + ` edited election "` + f.title + `" (` + f.alias + `)`,
		"Edited Election: " + f.title + "\nBy: " + f.agent + "\n"
}

// electionsCandidateSummary words a candidate class's summary with its
// verb: the candidate's fas_name in parentheses when it is truthy.
func electionsCandidateSummary(f electionsFields, verb string) string {
	s := f.agent + " " + verb + ` candidate "` + f.candidate + `" `
	if f.hasFasName {
		s += "(" + f.fasName + ") "
	}
	return s + `for election "` + f.title + `" (` + f.alias + `)`
}

// NewCandidateV1.
func electionsCandidateAdded(f electionsFields) (string, string) {
	return electionsCandidateSummary(f, "added"),
		"New Candidate for Election: " + f.title + "\nBy: " + f.agent + "\nCandidate: " + f.candidate + "\n"
}

// EditCandidateV1 (reconstructed: candidate_edit.py was not found; worded
// after NewCandidateV1 and DeleteCandidateV1).
func electionsCandidateEdited(f electionsFields) (string, string) {
	return electionsCandidateSummary(f, "edited"),
		"Candidate for Election " + f.title + " was edited\nBy: " + f.agent + "\nCandidate: " + f.candidate + "\n"
}

// DeleteCandidateV1.
func electionsCandidateDeleted(f electionsFields) (string, string) {
	return electionsCandidateSummary(f, "deleted"),
		"Candidate for Election " + f.title + " was deleted\nBy: " + f.agent + "\nCandidate: " + f.candidate + "\n"
}
