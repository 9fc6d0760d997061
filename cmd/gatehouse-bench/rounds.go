package main

import (
	"cmp"
	"slices"
)

// medianRounds turns the rounds of each scenario into one result per
// scenario, in the order of names (scenarios without a round are left
// out): the round with the median rate (the lower middle one of an even
// count), with every round's rate in RoundsRPS and, so that a goal is not
// judged met on a clean round while another failed, the errors of all
// rounds. A scenario skipped in any round is reported skipped.
func medianRounds(names []string, rounds map[string][]result) []result {
	out := make([]result, 0, len(names))
	for _, name := range names {
		rs := rounds[name]
		if len(rs) == 0 {
			continue
		}
		if i := slices.IndexFunc(rs, func(r result) bool { return r.Skipped != "" }); i >= 0 {
			out = append(out, rs[i])
			continue
		}
		if len(rs) == 1 {
			out = append(out, rs[0])
			continue
		}
		byRate := slices.Clone(rs)
		slices.SortStableFunc(byRate, func(a, b result) int { return cmp.Compare(a.rps(), b.rps()) })
		med := byRate[(len(byRate)-1)/2]
		med.RoundsRPS = make([]float64, len(rs))
		var errors int64
		for i, r := range rs {
			med.RoundsRPS[i] = r.rps()
			errors += r.errors
		}
		if errors > med.errors {
			med.byKind = mergeKinds(rs)
			med.errors = errors
			if med.firstError == "" {
				for _, r := range rs {
					if r.firstError != "" {
						med.firstError = r.firstError
						break
					}
				}
			}
		}
		out = append(out, med)
	}
	return out
}

// mergeKinds adds up the error counts by kind of all rounds.
func mergeKinds(rs []result) map[string]int64 {
	out := map[string]int64{}
	for _, r := range rs {
		for k, n := range r.byKind {
			out[k] += n
		}
	}
	return out
}
