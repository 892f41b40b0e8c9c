/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The upstream NetworkPolicy conformance model (namespaces x, y, z; pods a, b, c in each) and
 * its reachability matrices, shared by the live suite (nt_conformance.c) and the SCTP test
 * runs (tests/test_sctp_conformance.c), so both read the expected verdicts the same way.
 *
 * Pod i (1..9) is x/a, x/b, x/c, y/a, ..., z/c: the netns harness gives pod i the addresses
 * 198.18.0.i and fd00::i.
 *
 * A deny spec lists the (from, to) pairs a case blocks, as upstream's truth tables do, in
 * clauses separated by ';' applied in order:
 *     "SRC->DST"    block every pair matched     (SRC, DST: comma lists of ns/pod patterns,
 *     "+SRC->DST"   allow them again              '*' for any namespace or pod, or '*' alone)
 * e.g. "*->x/a; +x/b->x/a" is "every pod to x/a except from x/b". "" blocks nothing.
 * Self pairs (a pod to itself) are never probed.
 */
#ifndef PW_CF_MATRIX_H
#define PW_CF_MATRIX_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CF_NPODS 9

static const char *const cf_pod_name[CF_NPODS + 1] = {
	"", "x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c",
};

static inline char cf_pod_ns(int i)
{
	return "xyz"[(i - 1) / 3];
}

static inline char cf_pod_short(int i)
{
	return "abc"[(i - 1) % 3];
}

/* "x/b" -> 2; -EINVAL when not a model pod */
static inline int cf_pod_index(const char *s)
{
	int i;

	for (i = 1; i <= CF_NPODS; i++) {
		if (!strcmp(cf_pod_name[i], s))
			return i;
	}
	return -EINVAL;
}

/* One pattern, ns/pod with either part possibly a star, or a lone star, into a set of pods. */
static inline int cf_pattern(const char *p, size_t len, unsigned int *set)
{
	char ns, pod;
	int i;

	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 1 && p[0] == '*') {
		ns = pod = '*';
	} else if (len == 3 && p[1] == '/') {
		ns = p[0];
		pod = p[2];
	} else {
		return -EINVAL;
	}
	if (!strchr("xyz*", ns) || !strchr("abc*", pod))
		return -EINVAL;
	for (i = 1; i <= CF_NPODS; i++) {
		if ((ns == '*' || ns == cf_pod_ns(i)) && (pod == '*' || pod == cf_pod_short(i)))
			*set |= 1u << i;
	}
	return 0;
}

/* A comma list of patterns */
static inline int cf_pattern_list(const char *p, size_t len, unsigned int *set)
{
	const char *end = p + len;

	*set = 0;
	while (p < end) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *stop = c ? c : end;
		int err = cf_pattern(p, (size_t)(stop - p), set);

		if (err)
			return err;
		p = stop + 1;
	}
	return 0;
}

/* Fill deny[from][to] from a spec; -EINVAL (and a message) when the spec is malformed. */
static inline int cf_expect(const char *spec, bool deny[CF_NPODS + 1][CF_NPODS + 1])
{
	const char *p = spec;
	int f, t;

	memset(deny, 0, sizeof(bool) * (CF_NPODS + 1) * (CF_NPODS + 1));
	while (*p) {
		const char *semi = strchr(p, ';');
		const char *stop = semi ? semi : p + strlen(p);
		const char *arrow;
		unsigned int from, to;
		bool allow = false;

		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		if (p == stop) {
			p = semi ? semi + 1 : stop;
			continue;
		}
		if (*p == '+') {
			allow = true;
			p++;
		}
		arrow = strstr(p, "->");
		if (!arrow || arrow >= stop || cf_pattern_list(p, (size_t)(arrow - p), &from) ||
		    cf_pattern_list(arrow + 2, (size_t)(stop - arrow - 2), &to)) {
			fprintf(stderr, "bad deny spec \"%s\" near \"%.*s\"\n", spec,
				(int)(stop - p), p);
			return -EINVAL;
		}
		for (f = 1; f <= CF_NPODS; f++) {
			for (t = 1; t <= CF_NPODS; t++) {
				if ((from >> f & 1) && (to >> t & 1))
					deny[f][t] = !allow;
			}
		}
		p = semi ? semi + 1 : stop;
	}
	for (f = 1; f <= CF_NPODS; f++)
		deny[f][f] = false;
	return 0;
}

/* A truth table like upstream's: rows are sources, columns destinations. */
static inline void cf_print_table(FILE *out, const char *title,
				  char cell[CF_NPODS + 1][CF_NPODS + 1])
{
	int f, t;

	fprintf(out, "    %s\n        ", title);
	for (t = 1; t <= CF_NPODS; t++)
		fprintf(out, " %s", cf_pod_name[t]);
	fputc('\n', out);
	for (f = 1; f <= CF_NPODS; f++) {
		fprintf(out, "    %s ", cf_pod_name[f]);
		for (t = 1; t <= CF_NPODS; t++)
			fprintf(out, "   %c", f == t ? '-' : cell[f][t]);
		fputc('\n', out);
	}
}

#endif /* PW_CF_MATRIX_H */
