package api

// SetRuleListCache replaces s's cache of rule lists by an empty one of
// max rules (0: the default; negative: none), for the benchmarks; no
// request may be in flight.
func SetRuleListCache(s *Server, max int) {
	if max == 0 {
		max = Config{}.withDefaults().RuleListCache
	}
	s.ruleLists = newRuleListCache(max)
}
