package rulelog

// DecodeGenerationRules is decodeGenerationRules, for the tests.
var DecodeGenerationRules = decodeGenerationRules
