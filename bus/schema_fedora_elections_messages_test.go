package bus

import "testing"

func TestFedoraElectionsMessagesSchemas(t *testing.T) {
	t.Parallel()
	// Bodies as Fedora Elections' admin views publish them (agent, and
	// Election.to_json / Candidate.to_json), with the data of the app's
	// tests (tests/test_flask_admin.py).
	const election = `{"shortdesc":"test election shortdesc","alias":"test_election","description":"test election description",
		"url":"https://fedoraproject.org","start_date":"2024-05-28 00:00","end_date":"2024-06-04 00:00","embargoed":0,"voting_type":"range"}`
	el := func(c schemaCase) schemaCase { c.want.App = "elections"; return c }
	cases := []schemaCase{
		el(schemaCase{name: "election.new", schema: "fedora_elections.election.new",
			body: `{"agent":"toshio","election":` + election + `}`,
			want: schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org",
				Summary: `toshio created election "test election shortdesc" (test_election)`,
				Text:    "New Election: test election shortdesc\nBy: toshio\n"}}),
		el(schemaCase{name: "election.edit (reconstructed texts)", schema: "fedora_elections.election.edit",
			body: `{"agent":"toshio","election":` + election + `}`,
			want: schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org",
				Summary: `toshio edited election "test election shortdesc" (test_election)`,
				Text:    "Edited Election: test election shortdesc\nBy: toshio\n"}}),
		el(schemaCase{name: "candidate.new with fas_name", schema: "fedora_elections.candidate.new",
			body: `{"agent":"toshio","election":` + election + `,"candidate":{"name":"pingou","fas_name":"pingou","url":"https://fedoraproject.org"}}`,
			want: schemaWant{Users: []string{"pingou", "toshio"}, URL: "https://fedoraproject.org",
				Summary: `toshio added candidate "pingou" (pingou) for election "test election shortdesc" (test_election)`,
				Text:    "New Candidate for Election: test election shortdesc\nBy: toshio\nCandidate: pingou\n"}}),
		el(schemaCase{name: "candidate.new without fas_name", schema: "fedora_elections.candidate.new",
			body: `{"agent":"toshio","election":` + election + `,"candidate":{"name":"Kevin","url":"https://fedoraproject.org/wiki/User:Kevin"}}`,
			want: schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org",
				Summary: `toshio added candidate "Kevin" for election "test election shortdesc" (test_election)`,
				Text:    "New Candidate for Election: test election shortdesc\nBy: toshio\nCandidate: Kevin\n"}}),
		el(schemaCase{name: "candidate.edit (reconstructed texts)", schema: "fedora_elections.candidate.edit",
			body: `{"agent":"toshio","election":` + election + `,"candidate":{"name":"Toshio Kuratomi","fas_name":"toshio","url":"https://fedoraproject.org"}}`,
			want: schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org",
				Summary: `toshio edited candidate "Toshio Kuratomi" (toshio) for election "test election shortdesc" (test_election)`,
				Text:    "Candidate for Election test election shortdesc was edited\nBy: toshio\nCandidate: Toshio Kuratomi\n"}}),
		el(schemaCase{name: "candidate.delete", schema: "fedora_elections.candidate.delete",
			body: `{"agent":"toshio","election":{"shortdesc":"test election 4 shortdesc","alias":"test_election4","description":"d",
				"url":"https://fedoraproject.org/wiki/Elections","start_date":"2024-05-20 00:00","end_date":"2024-05-21 00:00","embargoed":1,"voting_type":"simple"},
				"candidate":{"name":"Toshio","fas_name":"","url":"https://fedoraproject.org"}}`,
			want: schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org/wiki/Elections",
				Summary: `toshio deleted candidate "Toshio" for election "test election 4 shortdesc" (test_election4)`,
				Text:    "Candidate for Election test election 4 shortdesc was deleted\nBy: toshio\nCandidate: Toshio\n"}}),
		el(schemaCase{name: "null fas_name (Candidate.to_json of a non-FAS candidate)", schema: "fedora_elections.candidate.delete",
			body: `{"agent":"toshio","election":` + election + `,"candidate":{"name":"Toshio","fas_name":null,"url":"https://fedoraproject.org"}}`,
			want: schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org",
				Summary: `toshio deleted candidate "Toshio" for election "test election shortdesc" (test_election)`,
				Text:    "Candidate for Election test election shortdesc was deleted\nBy: toshio\nCandidate: Toshio\n"}}),
		el(schemaCase{name: "non-string members render with str()", schema: "fedora_elections.election.new",
			body: `{"agent":"toshio","election":{"shortdesc":2024,"alias":null,"url":null}}`,
			want: schemaWant{Users: []string{"toshio"}, Summary: `toshio created election "2024" (None)`,
				Text: "New Election: 2024\nBy: toshio\n"}}),

		// Bodies where Python raises: each property that does keeps the
		// base class's value (or fmn keeps the names it has).
		el(schemaCase{name: "no alias: summary raises, __str__ does not", schema: "fedora_elections.election.edit",
			body:   `{"agent":"toshio","election":{"shortdesc":"s","url":"https://e.example"}}`,
			raises: "summary (KeyError alias)",
			want:   schemaWant{Users: []string{"toshio"}, URL: "https://e.example", Text: "Edited Election: s\nBy: toshio\n"}}),
		el(schemaCase{name: "no agent, no election", schema: "fedora_elections.election.new",
			body:   `{}`,
			raises: "url, summary, __str__ (KeyError); usernames is [None], which names no one"}),
		el(schemaCase{name: "no candidate", schema: "fedora_elections.candidate.new",
			body:   `{"agent":"toshio","election":` + election + `}`,
			raises: "usernames, summary and __str__ (KeyError candidate)",
			want:   schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org"}}),
		el(schemaCase{name: "candidate without agent: sorting None raises", schema: "fedora_elections.candidate.edit",
			body:   `{"election":` + election + `,"candidate":{"name":"Toshio","fas_name":"toshio"}}`,
			raises: "usernames ([None, 'toshio'].sort()), summary and __str__ (KeyError agent)",
			want:   schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org"}}),
		el(schemaCase{name: "candidate not an object", schema: "fedora_elections.candidate.delete",
			body:   `{"agent":"toshio","election":` + election + `,"candidate":"Toshio"}`,
			raises: "usernames, summary and __str__ (a str has no get, str indices)",
			want:   schemaWant{Users: []string{"toshio"}, URL: "https://fedoraproject.org"}}),
	}
	schemaRun(t, cases)
}
