# Summarizes the output of sqlite's BenchmarkBindingCompare (one or more
# files of `go test -bench BindingCompare -count N`): each benchmark's
# medians, then the ratios ncruces/rawsqlite paired by run (within each
# file, the i-th result of one over the i-th of the other, which ran next
# to it) with their median over every pair and a 95% interval of it.
# Pairing cancels most of the drift of a shared machine between runs.
#
#   awk -f bench/binding-ratios.awk results.txt...
function med(a, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == 1 { f++ }
/^BenchmarkBindingCompare\// {
	split($1, p, "/"); name = p[2] "/" p[3]; sub(/-[0-9]+$/, "", name)
	k = ++n[f, name]; wall[f, name, k] = $3; cpu[f, name, k] = $5
	if (!(name in all)) order[++names] = name
	j = ++all[name]; aw[name, j] = $3; ac[name, j] = $5; aa[name] = $9
}
END {
	print "| benchmark | runs | ns/op (median) | CPU ns/op (median) | allocs/op |"
	print "|---|---:|---:|---:|---:|"
	for (q = 1; q <= names; q++) {
		name = order[q]; m = all[name]
		for (i = 1; i <= m; i++) { x[i] = aw[name, i]; y[i] = ac[name, i] }
		printf "| %s | %d | %.0f | %.0f | %s |\n", name, m, med(x, m), med(y, m), aa[name]
	}
	print ""
	print "| ncruces / rawsqlite | pairs | CPU per op: median (95% interval) | wall per op: median (95% interval) |"
	print "|---|---:|---:|---:|"
	split("get/ncruces-kept:get/rawsqlite-kept get/ncruces:get/rawsqlite get/ncruces:get/rawsqlite-kept update-1/ncruces:update-1/rawsqlite update-16/ncruces:update-16/rawsqlite", pairs, " ")
	for (q = 1; q in pairs; q++) {
		split(pairs[q], ab, ":"); m = 0
		for (g = 1; g <= f; g++) for (i = 1; i <= n[g, ab[1]] && i <= n[g, ab[2]]; i++) {
			m++; w[m] = wall[g, ab[1], i] / wall[g, ab[2], i]; c[m] = cpu[g, ab[1], i] / cpu[g, ab[2], i]
		}
		if (!m) continue
		# A 95% interval of the median: ranks n/2 -+ 0.98 sqrt(n) of the sorted ratios.
		lo = int(m / 2 - 0.98 * sqrt(m)); hi = int(m / 2 + 1 + 0.98 * sqrt(m) + 0.999)
		if (lo < 1) lo = 1
		if (hi > m) hi = m
		cm = med(c, m); wm = med(w, m)
		printf "| %s | %d | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) |\n", ab[1] " / " ab[2], m, cm, c[lo], c[hi], wm, w[lo], w[hi]
	}
}
