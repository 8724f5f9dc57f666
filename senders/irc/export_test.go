package irc

// Internals for the tests of package irc_test.
var (
	SplitText    = splitText
	CleanText    = cleanText
	ParseMessage = parseMessage
)
