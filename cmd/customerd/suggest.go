package main

import (
	"slices"
	"strings"
	"sync"
)

// didYouMean returns "; did you mean " and the candidate closest to word,
// between before and after (the quotes or dashes of how it is written), or
// "" when none is close enough to be what was meant.
func didYouMean(word string, candidates []string, before, after string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if d := editDistance(word, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// One edit, or two in a longer word: further than that it is a guess.
	switch {
	case bestDist == 1, bestDist == 2 && len([]rune(word)) >= 5:
	default:
		return ""
	}
	return "; did you mean " + before + best + after + "?"
}

// editDistance is the number of insertions, deletions, substitutions and
// transpositions of adjacent characters that turn a into b (optimal string
// alignment distance).
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}

// subcommands returns the subcommands of each command as the usage lists
// them ("customerd key list …" makes list a subcommand of key), so that the
// usage and the suggestions cannot disagree.
var subcommands = sync.OnceValue(func() map[string][]string {
	subs := map[string][]string{}
	for _, line := range strings.Split(usage, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "customerd" || !isWord(f[2]) {
			continue
		}
		subs[f[1]] = append(subs[f[1]], f[2])
	}
	return subs
})

// commands returns the commands the usage lists, and help.
var commands = sync.OnceValue(func() []string {
	var cmds []string
	for _, line := range strings.Split(usage, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "customerd" && isWord(f[1]) && !slices.Contains(cmds, f[1]) {
			cmds = append(cmds, f[1])
		}
	}
	return append(cmds, "help")
})

// isWord reports whether s is a command's name: lowercase letters and dashes.
func isWord(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return s != ""
}
