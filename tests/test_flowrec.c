// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The streaming record writer against the json-c path it replaced: the same bytes for random
 * records with hostile strings (both libraries side by side, opts.legacy_json), string
 * escaping fuzzed against json-c's printer and parser, cached fragments that follow
 * pw_flowlog_invalidate(), batched writes (buffer, delay, rotation, fsync=always), and
 * --flow-aggregate with its accounting. No kernel needed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "flowlog_int.h"

#define OFFSET_NS (1700000000ll * 1000000000ll)
#define SEC	  1000000000ull

/* --- deterministic randomness -------------------------------------------------------------- */

static uint64_t rnd_next(uint64_t *s)
{
	/* splitmix64: any seed gives a full-period, well-mixed stream */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A hostile string: printable text, controls, quotes, valid and broken UTF-8 of every kind. */
static size_t rnd_str(uint64_t *s, char *buf, size_t cap)
{
	static const char *const pieces[] = {
		"a",
		"Z",
		"0",
		"-",
		"=",
		"/",
		"\"",
		"\\",
		"\n",
		"\r",
		"\t",
		"\b",
		"\f",
		"\x01",
		"\x1b",
		"\x1f",
		"\x7f",
		"\xc3\xa9",
		"\xe2\x82\xac",
		"\xf0\x9f\x98\x80",
		"\xc3",
		"\xe2\x82",
		"\xf0\x9f",
		"\xff",
		"\xfe",
		"\x80",
		"\xbf",
		"\xc0\xaf",
		"\xe0\x80\xaf",
		"\xed\xa0\x80",
		"\xf4\x90\x80\x80",
		"\xf8\x88\x80\x80\x80",
		" ",
		"app=web",
	};
	size_t n = rnd_next(s) % 24, len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *p = pieces[rnd_next(s) % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t l = strlen(p);

		if (rnd_next(s) % 8 == 0) {
			/* an arbitrary byte, NUL excluded (C strings) */
			buf[len++] = (char)(1 + rnd_next(s) % 255);
			continue;
		}
		if (len + l + 1 >= cap)
			break;
		memcpy(buf + len, p, l);
		len += l;
	}
	buf[len] = '\0';
	return len;
}

/* --- an enricher whose answers are a function of the question ------------------------------- */

#define MAXL 6

struct renr {
	int version; /* bumped by a test to change every answer */
	char ns[128], pod[128], cidr[128], lbl[MAXL][128], pol_ns[16][128], pol_name[16][128];
	const char *labels[MAXL];
};

static uint64_t seed_of(const struct renr *e, uint64_t a, uint64_t b)
{
	return a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full ^ (uint64_t)e->version;
}

static int fill_endpoint(struct renr *e, uint64_t s, struct pw_flow_endpoint *out)
{
	size_t nl;

	if (rnd_next(&s) % 5 == 0)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	if (rnd_next(&s) % 4) {
		rnd_str(&s, e->ns, sizeof(e->ns));
		out->ns = e->ns;
	}
	if (rnd_next(&s) % 4) {
		rnd_str(&s, e->pod, sizeof(e->pod));
		out->pod_name = e->pod;
	}
	if (rnd_next(&s) % 3 == 0) {
		rnd_str(&s, e->cidr, sizeof(e->cidr));
		out->cidr = e->cidr;
	}
	nl = rnd_next(&s) % MAXL;
	for (size_t i = 0; i < nl; i++) {
		rnd_str(&s, e->lbl[i], sizeof(e->lbl[i]));
		e->labels[i] = rnd_next(&s) % 7 ? e->lbl[i] : NULL;
	}
	out->labels = nl ? e->labels : NULL;
	out->n_labels = nl;
	if (rnd_next(&s) % 3 == 0)
		out->identity = (uint32_t)(rnd_next(&s) % 5);
	if (rnd_next(&s) % 3 == 0)
		out->ep_id = (uint32_t)(rnd_next(&s) % 3);
	return 0;
}

static int r_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
		      uint32_t ep_id, struct pw_flow_endpoint *out)
{
	struct renr *e = ctx;
	uint64_t a = (uint64_t)addr[0] ^ (uint64_t)addr[3] << 32 ^ family;

	return fill_endpoint(e, seed_of(e, a, (uint64_t)identity << 32 | ep_id), out);
}

static int r_identity(void *ctx, uint32_t identity, struct pw_flow_endpoint *out)
{
	struct renr *e = ctx;

	return fill_endpoint(e, seed_of(e, 77, identity), out);
}

static void fill_policy(struct renr *e, uint64_t *s, int i, struct pw_flow_policy *p)
{
	p->ns = NULL;
	p->name = NULL;
	if (rnd_next(s) % 4) {
		rnd_str(s, e->pol_ns[i], sizeof(e->pol_ns[i]));
		p->ns = e->pol_ns[i];
	}
	if (rnd_next(s) % 6) {
		rnd_str(s, e->pol_name[i], sizeof(e->pol_name[i]));
		p->name = e->pol_name[i];
	}
	p->kind = rnd_next(s) % 5 == 0 ? "Custom\"Kind" : NULL;
	p->rule = (int32_t)(rnd_next(s) % 4) - 1;
	p->direction = (uint8_t)(rnd_next(s) % 2);
}

static int r_policy(void *ctx, uint32_t cookie, struct pw_flow_policy *out)
{
	struct renr *e = ctx;
	uint64_t s = seed_of(e, cookie, 1);

	if (rnd_next(&s) % 4 == 0)
		return -ENOENT;
	fill_policy(e, &s, 0, out);
	return 0;
}

static int r_service(void *ctx, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		     uint8_t proto, char *buf, size_t len)
{
	struct renr *e = ctx;
	uint64_t s = seed_of(e, addr[0] ^ port_be, proto);
	char a[64], b[64];

	if (rnd_next(&s) % 3 == 0)
		return -ENOENT;
	rnd_str(&s, a, sizeof(a));
	rnd_str(&s, b, sizeof(b));
	/* "namespace/name"; sometimes no slash at all */
	snprintf(buf, len, rnd_next(&s) % 5 ? "%s/%s" : "%s%s", a, b);
	return 0;
}

static int r_flow_service(void *ctx, uint32_t ep_id, uint8_t family, uint8_t proto,
			  const uint32_t daddr[4], uint16_t dport_be, uint32_t front[4],
			  uint16_t *front_port_be)
{
	struct renr *e = ctx;
	uint64_t s = seed_of(e, daddr[0] ^ ep_id, dport_be);

	if (rnd_next(&s) % 2)
		return -ENOENT;
	memset(front, 0, 16);
	front[0] = (uint32_t)rnd_next(&s);
	front[3] = family == PW_FAMILY_V6 ? (uint32_t)rnd_next(&s) : 0;
	*front_port_be = (uint16_t)rnd_next(&s);
	return 0;
}

static const char *r_quarantine(void *ctx, uint32_t ep_id)
{
	static char why[128];
	struct renr *e = ctx;
	uint64_t s = seed_of(e, ep_id, 9);

	if (rnd_next(&s) % 3 == 0)
		return NULL;
	rnd_str(&s, why, sizeof(why));
	return why;
}

static int r_isolating(void *ctx, uint32_t ep_id, uint8_t dir, struct pw_flow_policy *out,
		       size_t max)
{
	struct renr *e = ctx;
	uint64_t s = seed_of(e, ep_id, dir + 2);
	int n = (int)(rnd_next(&s) % 20);

	for (int i = 0; i < n && (size_t)i < max && i < 16; i++)
		fill_policy(e, &s, i, &out[i]);
	return n;
}

/* --- capture ------------------------------------------------------------------------------- */

struct lines {
	size_t n, cap;
	char **v;
};

static void lines_fn(void *ctx, const char *line, size_t len)
{
	struct lines *l = ctx;

	assert_int_equal(strlen(line), len);
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	l->v[l->n++] = strdup(line);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Every byte valid UTF-8, no raw control character, one JSON object. */
static void assert_clean_json(const char *line)
{
	size_t n = strlen(line);
	char *copy = malloc(3 * n + 1);
	json_object *o;

	assert_non_null(copy);
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		assert_true(*p >= 0x20);
	assert_int_equal(pw_utf8_sanitize(line, n, copy, 3 * n + 1), n);
	assert_memory_equal(copy, line, n);
	free(copy);
	o = json_tokener_parse(line);
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	json_object_put(o);
}

/* --- random inputs --------------------------------------------------------------------------- */

static void rnd_addr(uint64_t *s, uint8_t family, uint32_t a[4])
{
	static const uint32_t pool4[] = {0, 0xc6120010, 0xc6120014, 0xc613ff01, 0x0a000001};

	memset(a, 0, 16);
	if (family == PW_FAMILY_V4) {
		a[0] = htonl(pool4[rnd_next(s) % 5]);
	} else if (rnd_next(s) % 4) {
		a[0] = htonl(0xfd000000);
		a[3] = htonl((uint32_t)(rnd_next(s) % 4));
	}
}

static uint32_t rnd_identity(uint64_t *s)
{
	static const uint32_t pool[] = {0,   PW_ID_HOST, PW_ID_WORLD,	     PW_ID_UNKNOWN,
					256, 300,	 PW_ID_CIDR_FLAG | 5};

	return pool[rnd_next(s) % (sizeof(pool) / sizeof(pool[0]))];
}

static uint8_t rnd_proto(uint64_t *s)
{
	static const uint8_t pool[] = {IPPROTO_TCP,  IPPROTO_UDP,    IPPROTO_SCTP,
				       IPPROTO_ICMP, IPPROTO_ICMPV6, 47};

	return pool[rnd_next(s) % sizeof(pool)];
}

static void rnd_event(uint64_t *s, struct pw_event *ev)
{
	static const uint8_t types[] = {PW_EV_FLOW_NEW, PW_EV_DROP,  PW_EV_SOCK_DENY,
					PW_EV_REVOKED,	PW_EV_AUDIT, 99};
	static const uint8_t reasons[] = {
		PW_OK_POLICY,	    PW_OK_AUDIT,	 PW_DROP_POLICY,
		PW_DROP_REVOKED,    PW_DROP_SPOOFED,	 PW_DROP_MALFORMED,
		PW_DROP_QUARANTINE, PW_DROP_FRAG_DENIED, 250};

	memset(ev, 0, sizeof(*ev));
	ev->type = types[rnd_next(s) % sizeof(types)];
	ev->reason = reasons[rnd_next(s) % sizeof(reasons)];
	ev->direction = (uint8_t)(rnd_next(s) % 2);
	ev->family = rnd_next(s) % 3 ? PW_FAMILY_V4 : PW_FAMILY_V6;
	ev->proto = rnd_proto(s);
	ev->tcp_flags = (uint8_t)rnd_next(s);
	ev->flags = (uint8_t)(rnd_next(s) % 4); /* PW_EV_F_SOCK, PW_EV_F_SVC */
	ev->sport = rnd_next(s) % 3 ? (uint16_t)rnd_next(s) : 0;
	ev->dport = rnd_next(s) % 6 ? (uint16_t)rnd_next(s) : 0;
	ev->ep_id = (uint32_t)(rnd_next(s) % 4);
	rnd_addr(s, ev->family, ev->saddr);
	rnd_addr(s, ev->family, ev->daddr);
	ev->src_identity = rnd_identity(s);
	ev->dst_identity = rnd_identity(s);
	ev->cookie = (uint32_t)(rnd_next(s) % 6);
	ev->ifindex = rnd_next(s) % 2 ? (uint32_t)rnd_next(s) : 0;
	ev->pkt_len = rnd_next(s) % 2 ? (uint32_t)rnd_next(s) % 70000 : 0;
	ev->pid = (uint32_t)rnd_next(s);
	ev->cgroup_id = rnd_next(s);
	for (size_t i = 0; i < sizeof(ev->comm); i++)
		ev->comm[i] = (char)rnd_next(s); /* NUL anywhere or nowhere */
	ev->ts_ns = rnd_next(s) % (4 * SEC) + (rnd_next(s) % 50 == 0 ? rnd_next(s) >> 3 : 0);
}

static void rnd_flow_end(uint64_t *s, struct pw_ct_key *k, struct pw_ct_entry *v,
			 enum pw_flow_end_reason *why)
{
	memset(k, 0, sizeof(*k));
	memset(v, 0, sizeof(*v));
	k->ep_id = (uint32_t)(rnd_next(s) % 4);
	k->scope = (uint8_t)(rnd_next(s) % 2);
	k->family = rnd_next(s) % 3 ? PW_FAMILY_V4 : PW_FAMILY_V6;
	k->proto = rnd_proto(s);
	rnd_addr(s, k->family, k->saddr);
	rnd_addr(s, k->family, k->daddr);
	k->sport = (uint16_t)rnd_next(s);
	k->dport = (uint16_t)rnd_next(s);
	v->created_ns = rnd_next(s) % (100 * SEC);
	v->last_seen_ns = v->created_ns + rnd_next(s) % (100 * SEC);
	for (int i = 0; i < 2; i++) {
		v->packets[i] = rnd_next(s) >> (rnd_next(s) % 64);
		v->bytes[i] = rnd_next(s) >> (rnd_next(s) % 64);
		v->tcp_flags[i] = (uint8_t)rnd_next(s);
	}
	v->cookie = (uint32_t)(rnd_next(s) % 6);
	v->src_identity = rnd_identity(s);
	v->dst_identity = rnd_identity(s);
	v->state = (uint8_t)(rnd_next(s) % 4);
	v->flags = (uint8_t)(rnd_next(s) % 4);
	*why = (enum pw_flow_end_reason)(rnd_next(s) % 5);
}

/* --- the same bytes as the json-c path ---------------------------------------------------------
 */

/* flow_end and lost records carry the time they were observed: the two libraries differ there */
static void assert_same_record(const char *a, const char *b)
{
	static const char head[] = "{\"time\":\"";
	const size_t tlen = 30; /* 2023-11-14T22:13:20.123456789Z */

	if (!strcmp(a, b))
		return;
	if (strstr(a, "\"kind\":\"flow_end\"") || strstr(a, "\"kind\":\"lost\"")) {
		assert_memory_equal(a, head, sizeof(head) - 1);
		assert_memory_equal(b, head, sizeof(head) - 1);
		assert_string_equal(a + sizeof(head) - 1 + tlen, b + sizeof(head) - 1 + tlen);
		return;
	}
	fprintf(stderr, "json-c:    %s\nstreaming: %s\n", a, b);
	fail();
}

static void test_same_bytes_as_jsonc(void **state)
{
	struct renr e1 = {0}, e2 = {0};
	struct pw_flow_enricher en1 = {.ctx = &e1,
				       .endpoint = r_endpoint,
				       .policy = r_policy,
				       .isolating = r_isolating,
				       .service = r_service,
				       .flow_service = r_flow_service,
				       .quarantine_reason = r_quarantine},
				en2 = en1;
	char node[128];
	uint64_t s = 1;
	struct lines l1 = {0}, l2 = {0};
	struct pw_flowlog *a, *b;

	en2.ctx = &e2;
	rnd_str(&s, node, sizeof(node));
	for (int run = 0; run < 2; run++) {
		struct pw_flowlog_opts o = {.sz = sizeof(o),
					    .clock_offset_set = true,
					    .clock_offset_ns = OFFSET_NS,
					    .node_name = run ? node : NULL,
					    .rl_slots = 8,
					    .rl_window_ns = SEC,
					    .rl_burst = 2};

		/* first without an enricher, then with one that answers hostile strings */
		o.legacy_json = true;
		o.enricher = run ? &en1 : NULL;
		assert_int_equal(pw_flowlog_new(&o, &a), 0);
		o.legacy_json = false;
		o.enricher = run ? &en2 : NULL;
		assert_int_equal(pw_flowlog_new(&o, &b), 0);
		assert_true(pw_flowlog_subscribe(a, lines_fn, &l1) > 0);
		assert_true(pw_flowlog_subscribe(b, lines_fn, &l2) > 0);
		for (int i = 0; i < 10000; i++) {
			uint64_t r = rnd_next(&s) % 100;

			if (r < 85) {
				struct pw_event ev;

				rnd_event(&s, &ev);
				assert_int_equal(pw_flowlog_event(a, 0, &ev),
						 pw_flowlog_event(b, 0, &ev));
			} else if (r < 97) {
				struct pw_ct_key k;
				struct pw_ct_entry v;
				enum pw_flow_end_reason why;

				rnd_flow_end(&s, &k, &v, &why);
				assert_int_equal(pw_flowlog_flow_end(a, &k, &v, why),
						 pw_flowlog_flow_end(b, &k, &v, why));
			} else if (r < 98) {
				int cpu = (int)(rnd_next(&s) % 3) - 1;
				uint64_t n = rnd_next(&s) >> 20;

				if (cpu < 0)
					assert_int_equal(pw_flowlog_lost_unread(a, n),
							 pw_flowlog_lost_unread(b, n));
				else
					assert_int_equal(pw_flowlog_lost(a, cpu, n),
							 pw_flowlog_lost(b, cpu, n));
			} else if (r < 99) {
				uint64_t now = rnd_next(&s) % (6 * SEC);

				assert_int_equal(pw_flowlog_flush(a, now),
						 pw_flowlog_flush(b, now));
			} else {
				/* new answers: the streaming side must ask again, not reuse */
				e1.version++;
				e2.version++;
				pw_flowlog_invalidate(b);
			}
		}
		pw_flowlog_free(a);
		pw_flowlog_free(b);
		assert_int_equal(l1.n, l2.n);
		assert_true(l1.n > 5000);
		for (size_t i = 0; i < l1.n; i++) {
			assert_same_record(l1.v[i], l2.v[i]);
			assert_clean_json(l2.v[i]);
		}
		lines_free(&l1);
		lines_free(&l2);
	}
}

/* Aggregate records (no json-c counterpart) over the same random inputs: valid, clean JSON. */
static void test_aggregate_fuzz(void **state)
{
	struct renr e = {0};
	struct pw_flow_enricher en = {.ctx = &e,
				      .endpoint = r_endpoint,
				      .policy = r_policy,
				      .isolating = r_isolating,
				      .identity = r_identity};
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS,
				    .aggregate_ns = SEC,
				    .enricher = &en};
	struct pw_flowlog_stats st;
	struct lines l = {0};
	struct pw_flowlog *fl;
	uint64_t s = 7, aggs = 0;

	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	assert_true(pw_flowlog_subscribe(fl, lines_fn, &l) > 0);
	for (int i = 0; i < 10000; i++) {
		struct pw_event ev;
		struct pw_ct_key k;
		struct pw_ct_entry v;
		enum pw_flow_end_reason why;

		rnd_event(&s, &ev);
		pw_flowlog_event(fl, 0, &ev);
		rnd_flow_end(&s, &k, &v, &why);
		pw_flowlog_flow_end(fl, &k, &v, why);
		if (i % 2500 == 2499) {
			e.version++;
			pw_flowlog_invalidate(fl);
			pw_flowlog_flush_all(fl);
		}
	}
	pw_flowlog_get_stats(fl, &st);
	pw_flowlog_free(fl);
	for (size_t i = 0; i < l.n; i++) {
		assert_clean_json(l.v[i]);
		aggs += strstr(l.v[i], "\"kind\":\"flow_aggregate\"") != NULL;
	}
	assert_true(aggs > 100);
	assert_true(st.aggregated > 10000);
	lines_free(&l);
}

/* pw_fl_jb_str against json-c's printer and parser, over random hostile strings */
static void test_escaping_fuzz(void **state)
{
	uint64_t s = 42;
	struct jbuf b = {0};
	char in[256], clean[800];

	for (int i = 0; i < 50000; i++) {
		size_t n = rnd_str(&s, in, sizeof(in)), cn;
		size_t max = rnd_next(&s) % 4 ? SIZE_MAX : rnd_next(&s) % (n + 2);
		json_object *v, *back;
		const char *want;

		b.len = 0;
		pw_fl_jb_str(&b, in, max);
		assert_false(b.oom);
		cn = pw_utf8_sanitize(in, max, clean, sizeof(clean));
		v = json_object_new_string_len(clean, (int)cn);
		want = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
		if (b.len != strlen(want) || memcmp(b.p, want, b.len)) {
			fprintf(stderr, "json-c %s\nours   %.*s\n", want, (int)b.len, b.p);
			fail();
		}
		json_object_put(v);
		/* parsed back: the repaired string, exactly */
		{
			char *text = strndup(b.p, b.len);

			assert_non_null(text);
			back = json_tokener_parse(text);
			free(text);
		}
		assert_non_null(back);
		assert_int_equal(json_object_get_string_len(back), cn);
		assert_memory_equal(json_object_get_string(back), clean, cn);
		json_object_put(back);
	}
	free(b.p);
}

/* --- cached fragments --------------------------------------------------------------------------
 */

struct venr {
	int calls;
	const char *ns;
};

static int v_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
		      uint32_t ep_id, struct pw_flow_endpoint *out)
{
	struct venr *e = ctx;

	e->calls++;
	memset(out, 0, sizeof(*out));
	out->ns = e->ns;
	return 0;
}

static void test_fragments_invalidate(void **state)
{
	struct venr e = {.ns = "old"};
	struct pw_flow_enricher en = {.ctx = &e, .endpoint = v_endpoint};
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS,
				    .enricher = &en};
	struct pw_event ev = {.type = PW_EV_FLOW_NEW,
			      .reason = PW_OK_POLICY,
			      .family = PW_FAMILY_V4,
			      .proto = IPPROTO_UDP,
			      .src_identity = 300,
			      .dst_identity = 301};
	struct lines l = {0};
	struct pw_flowlog *fl;

	ev.saddr[0] = htonl(0xc6120010);
	ev.daddr[0] = htonl(0xc6120014);
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	assert_true(pw_flowlog_subscribe(fl, lines_fn, &l) > 0);
	for (int i = 0; i < 100; i++) {
		ev.sport = htons((uint16_t)(1000 + i));
		assert_int_equal(pw_flowlog_event(fl, 0, &ev), 1);
	}
	/* two ends, each asked once */
	assert_int_equal(e.calls, 2);
	e.ns = "new";
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 1);
	assert_non_null(strstr(l.v[l.n - 1], "\"namespace\":\"old\""));
	pw_flowlog_invalidate(fl);
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 1);
	assert_null(strstr(l.v[l.n - 1], "\"namespace\":\"old\""));
	assert_non_null(
		strstr(l.v[l.n - 1], "\"source\":{\"identity\":300,\"namespace\":\"new\"}"));
	assert_int_equal(e.calls, 4);
	pw_flowlog_free(fl);
	lines_free(&l);
}

/* --- batched writes -----------------------------------------------------------------------------
 */

static char tmpdir[128];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pw-flowrec-test-%d", (int)getpid());
	return mkdir(tmpdir, 0700);
}

static int teardown_tmp(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
	}
	if (d)
		closedir(d);
	return rmdir(tmpdir);
}

static uint64_t fsize(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_size;
}

/* lines of a file, checked whole and parsed; their seq appended to seqs */
static size_t file_seqs(const char *path, int64_t *seqs, size_t *n)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, lines = 0;
	ssize_t len;

	if (!f)
		return 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_object *r, *v;

		assert_int_equal(line[len - 1], '\n');
		line[len - 1] = '\0';
		r = json_tokener_parse(line);
		assert_non_null(r);
		assert_true(json_object_object_get_ex(r, "seq", &v));
		seqs[(*n)++] = json_object_get_int64(v);
		json_object_put(r);
		lines++;
	}
	free(line);
	fclose(f);
	return lines;
}

static void deny(struct pw_flowlog *fl, int i)
{
	struct pw_event ev = {.type = PW_EV_DROP,
			      .reason = PW_DROP_POLICY,
			      .family = PW_FAMILY_V4,
			      .proto = IPPROTO_TCP,
			      .ts_ns = (uint64_t)i};

	ev.saddr[0] = htonl(0xc6120010);
	ev.daddr[0] = htonl(0xc6120014);
	ev.dport = htons((uint16_t)(1000 + i));
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 1);
}

static void test_batched_writes(void **state)
{
	char path[256], p[300];
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .path = path,
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS,
				    .write_buffer = 64 << 10,
				    .write_delay_ms = 60000};
	struct pw_flowlog_stats st;
	struct pw_flowlog *fl;
	int64_t seqs[256];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/batch.json", tmpdir);
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	for (int i = 0; i < 10; i++)
		deny(fl, i);
	/* buffered: counted, not written yet */
	pw_flowlog_get_stats(fl, &st);
	assert_int_equal(st.records, 10);
	assert_true(st.file_bytes > 10 * 200);
	assert_int_equal(fsize(path), 0);
	assert_int_equal(pw_flowlog_flush_writes(fl), 0);
	assert_int_equal(fsize(path), st.file_bytes);
	assert_int_equal(file_seqs(path, seqs, &n), 10);
	/* the deny timer flushes too; free flushes the rest */
	deny(fl, 10);
	assert_true(pw_flowlog_flush(fl, 0) >= 0);
	pw_flowlog_get_stats(fl, &st);
	assert_int_equal(fsize(path), st.file_bytes);
	deny(fl, 11);
	pw_flowlog_free(fl);
	n = 0;
	assert_int_equal(file_seqs(path, seqs, &n), 12);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], (int64_t)i + 1);
	unlink(path);

	/* a record that waited write_delay_ms goes out with the next one */
	o.write_delay_ms = 1;
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	deny(fl, 0);
	usleep(20000);
	deny(fl, 1);
	n = 0;
	assert_int_equal(file_seqs(path, seqs, &n), 2);
	pw_flowlog_free(fl);
	unlink(path);

	/* fsync=always writes and syncs each record: no buffering */
	o.fsync = PW_FLOWLOG_FSYNC_ALWAYS;
	o.write_delay_ms = 60000;
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	deny(fl, 0);
	n = 0;
	assert_int_equal(file_seqs(path, seqs, &n), 1);
	pw_flowlog_free(fl);
	unlink(path);

	/* rotation with a buffer: files stay under max_bytes, records contiguous, none split */
	o.fsync = PW_FLOWLOG_FSYNC_ROTATE;
	o.max_bytes = 4096;
	o.keep = 3;
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	for (int i = 0; i < 40; i++)
		deny(fl, i);
	pw_flowlog_get_stats(fl, &st);
	assert_true(st.rotations >= 3);
	pw_flowlog_free(fl);
	n = 0;
	for (int k = 3; k >= 0; k--) {
		if (k)
			snprintf(p, sizeof(p), "%s.%d", path, k);
		else
			snprintf(p, sizeof(p), "%s", path);
		assert_true(fsize(p) <= o.max_bytes);
		assert_true(file_seqs(p, seqs, &n) > 0);
	}
	for (size_t i = 1; i < n; i++)
		assert_int_equal(seqs[i], seqs[i - 1] + 1);
	assert_int_equal(seqs[n - 1], 40);
}

/* --- aggregation ---------------------------------------------------------------------------------
 */

static json_object *find_agg(struct lines *l, const char *verdict, int dport, json_object **keep)
{
	for (size_t i = 0; i < l->n; i++) {
		json_object *r = json_tokener_parse(l->v[i]), *v, *p;

		assert_non_null(r);
		if (json_object_object_get_ex(r, "kind", &v) &&
		    !strcmp(json_object_get_string(v), "flow_aggregate") &&
		    json_object_object_get_ex(r, "verdict", &v) &&
		    !strcmp(json_object_get_string(v), verdict)) {
			int port = -1;

			if (json_object_object_get_ex(r, "l4", &p)) {
				json_object_object_foreach(p, name, val)
				{
					json_object *dp;

					(void)name;
					if (json_object_object_get_ex(val, "destination_port", &dp))
						port = json_object_get_int(dp);
				}
			}
			if (port == dport) {
				*keep = r;
				return r;
			}
		}
		json_object_put(r);
	}
	return NULL;
}

static int64_t agg_int(json_object *r, const char *a, const char *b)
{
	json_object *o, *v;

	assert_true(json_object_object_get_ex(r, a, &o));
	if (!b)
		return json_object_get_int64(o);
	assert_true(json_object_object_get_ex(o, b, &v));
	return json_object_get_int64(v);
}

static int id_describe(void *ctx, uint32_t identity, struct pw_flow_endpoint *out)
{
	static const char *const lbl[] = {"app=web"};

	if (identity != 300)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->ns = "shop";
	out->labels = lbl;
	out->n_labels = 1;
	return 0;
}

static void test_aggregate(void **state)
{
	struct pw_flow_enricher en = {.identity = id_describe};
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS,
				    .aggregate_ns = 10 * SEC,
				    .enricher = &en};
	struct pw_event ev = {.type = PW_EV_FLOW_NEW,
			      .reason = PW_OK_POLICY,
			      .direction = PW_DIR_EGRESS,
			      .family = PW_FAMILY_V4,
			      .proto = IPPROTO_TCP,
			      .ep_id = 7,
			      .src_identity = 300,
			      .dst_identity = 301,
			      .cookie = 42};
	struct pw_ct_key k = {
		.ep_id = 7, .scope = PW_DIR_EGRESS, .family = PW_FAMILY_V4, .proto = IPPROTO_TCP};
	struct pw_ct_entry v = {.src_identity = 300,
				.dst_identity = 301,
				.cookie = 42,
				.packets = {3, 2},
				.bytes = {180, 120}};
	struct pw_flowlog_stats st;
	struct lines l = {0};
	struct pw_flowlog *fl;
	json_object *r = NULL;
	uint64_t now;

	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	assert_true(pw_flowlog_subscribe(fl, lines_fn, &l) > 0);
	ev.ts_ns = pw_fl_mono_now();
	ev.saddr[0] = htonl(0xc6120010);
	ev.daddr[0] = htonl(0xc6120014);
	ev.dport = htons(5432);
	k.dport = htons(5432);
	for (int i = 0; i < 5; i++) {
		ev.sport = htons((uint16_t)(40000 + i));
		assert_int_equal(pw_flowlog_event(fl, 0, &ev), 0); /* counted, not written */
	}
	ev.dport = htons(80);
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 0);
	ev.type = PW_EV_AUDIT;
	ev.reason = PW_OK_AUDIT;
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 0);
	/* denies: in the aggregate and still recorded, rate limited per key */
	ev.type = PW_EV_DROP;
	ev.reason = PW_DROP_POLICY;
	ev.dport = htons(22);
	ev.cookie = 0;
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 1);
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 0);
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 0);
	assert_int_equal(pw_flowlog_flow_end(fl, &k, &v, PW_END_CLOSED), 0);
	assert_int_equal(pw_flowlog_flow_end(fl, &k, &v, PW_END_TIMEOUT), 0);
	assert_int_equal(l.n, 1);
	/* the interval has not ended: nothing yet */
	now = pw_fl_mono_now();
	assert_int_equal(pw_flowlog_flush(fl, now), 0);
	assert_int_equal(l.n, 1);
	/* it has: one record per key (and the deny window's pending count) */
	assert_int_equal(pw_flowlog_flush(fl, now + 11 * SEC), 4 + 1);
	pw_flowlog_get_stats(fl, &st);
	assert_int_equal(st.aggregated, 5 + 1 + 1 + 2);
	assert_int_equal(st.aggregates, 4);
	/* every decision in exactly one place: per-flow records, suppressed, or aggregates */
	assert_int_equal(st.events + st.flow_ends, 2 /* deny records */ + st.suppressed +
							   st.suppressed_pending + st.aggregated);

	assert_non_null(find_agg(&l, "FORWARDED", 5432, &r));
	assert_int_equal(agg_int(r, "aggregate", "flows"), 5);
	assert_int_equal(agg_int(r, "aggregate", "flows_ended"), 2);
	assert_int_equal(agg_int(r, "aggregate", "packets"), 10);
	assert_int_equal(agg_int(r, "aggregate", "octets"), 600);
	assert_int_equal(agg_int(r, "aggregate", "denied"), 0);
	assert_int_equal(agg_int(r, "policy_cookie", NULL), 42);
	assert_int_equal(agg_int(r, "source", "identity"), 300);
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_object_get(r, "source"), "namespace")),
			    "shop");
	assert_true(agg_int(r, "aggregate", "flowEndMilliseconds") >=
		    agg_int(r, "aggregate", "flowStartMilliseconds") + 10000);
	json_object_put(r);
	assert_non_null(find_agg(&l, "FORWARDED", 80, &r));
	assert_int_equal(agg_int(r, "aggregate", "flows"), 1);
	json_object_put(r);
	assert_non_null(find_agg(&l, "AUDIT", 80, &r));
	assert_int_equal(agg_int(r, "aggregate", "flows"), 1);
	json_object_put(r);
	assert_non_null(find_agg(&l, "DROPPED", 22, &r));
	assert_int_equal(agg_int(r, "aggregate", "denied"), 3);
	json_object_put(r);
	for (size_t i = 0; i < l.n; i++)
		assert_clean_json(l.v[i]);

	/* the next interval starts empty; free writes what is open */
	ev.type = PW_EV_FLOW_NEW;
	assert_int_equal(pw_flowlog_event(fl, 0, &ev), 0);
	pw_flowlog_free(fl);
	assert_non_null(strstr(l.v[l.n - 1], "\"kind\":\"flow_aggregate\""));
	assert_non_null(strstr(l.v[l.n - 1], "\"flows\":1,"));
	lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes_as_jsonc),
		cmocka_unit_test(test_aggregate_fuzz),
		cmocka_unit_test(test_escaping_fuzz),
		cmocka_unit_test(test_fragments_invalidate),
		cmocka_unit_test(test_batched_writes),
		cmocka_unit_test(test_aggregate),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
