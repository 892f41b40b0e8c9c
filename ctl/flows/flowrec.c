// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The record writer: each record is streamed as JSON text into one reused buffer, in the
 * field order json-c printed the object tree in (the path kept in flowrec_jsonc.c), so the
 * lines are the same byte for byte; tests/test_flowlog.c checks that over random records
 * with hostile strings.
 *
 * Hand-written rather than json-c because the tree was the cost: about 30 allocations, a
 * hash insert per field and a print per record (~9 µs); this writes ~900 bytes with a few
 * copies. What is the same for many records is rendered once and kept:
 *   - an endpoint (namespace, pod, labels, cidr) per (family, address, identity, endpoint),
 *   - an identity (aggregate records) per identity,
 *   - a policy rule per cookie, the isolating policies per (endpoint, direction),
 *   - the node name, the date and time down to the second.
 * The fragments hold what the enricher answered; pw_flowlog_invalidate() (the daemon calls
 * it when pods, namespaces or policies change) makes every one of them stale at once.
 *
 * Strings from outside (labels, names, comm, ...) are repaired as UTF-8 and escaped exactly as
 * json-c escapes (pw_fl_jb_str); podwall's own table strings are ASCII without anything to
 * escape and are copied as they are.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowlog_int.h"

/* --- the buffer --------------------------------------------------------------------------------
 */

static bool jb_grow(struct jbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 1024;
	char *p;

	if (b->oom)
		return false;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static inline bool jb_need(struct jbuf *b, size_t n)
{
	return b->len + n <= b->cap || jb_grow(b, n);
}

static inline void jb_mem(struct jbuf *b, const void *s, size_t n)
{
	/* an empty fragment may have no buffer at all: memcpy() must not see NULL */
	if (!n || !jb_need(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

#define JB_LIT(b, s) jb_mem(b, s, sizeof(s) - 1)

static inline void jb_cstr(struct jbuf *b, const char *s)
{
	jb_mem(b, s, strlen(s));
}

/* ,"key": (no comma right after an opening brace or bracket) */
static inline void jb_key(struct jbuf *b, const char *k, size_t klen)
{
	char *o;

	if (!jb_need(b, klen + 4))
		return;
	o = b->p + b->len;
	if (b->len && o[-1] != '{' && o[-1] != '[')
		*o++ = ',';
	*o++ = '"';
	memcpy(o, k, klen);
	o += klen;
	*o++ = '"';
	*o++ = ':';
	b->len = (size_t)(o - b->p);
}

#define JB_KEY(b, k) jb_key(b, k, sizeof(k) - 1)

static inline void jb_sep(struct jbuf *b)
{
	if (b->len && b->p[b->len - 1] != '[' && b->p[b->len - 1] != '{')
		jb_mem(b, ",", 1);
}

static void jb_u64(struct jbuf *b, uint64_t v)
{
	char t[20];
	int i = (int)sizeof(t);

	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jb_mem(b, t + i, sizeof(t) - (size_t)i);
}

static void jb_i64(struct jbuf *b, int64_t v)
{
	if (v < 0) {
		JB_LIT(b, "-");
		jb_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		jb_u64(b, (uint64_t)v);
	}
}

/* --- strings ------------------------------------------------------------------------------------
 */

/*
 * "s" with at most maxlen bytes of s (stopping at a NUL), invalid UTF-8 as U+FFFD, escaped as
 * json-c does with JSON_C_TO_STRING_NOSLASHESCAPE: \" \\ \b \f \n \r \t, other bytes below
 * 0x20 as \u00xx (lower-case hex), everything else as it is.
 */
void pw_fl_jb_str(struct jbuf *b, const char *str, size_t maxlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strnlen(str, maxlen), i = 0;
	char *o;

	/* the worst case: every byte a \u00xx */
	if (!jb_need(b, 6 * n + 2))
		return;
	o = b->p + b->len;
	*o++ = '"';
	while (i < n) {
		unsigned char c = s[i];
		size_t bad = 0, k;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			*o++ = '\\';
			switch (c) {
			case '"':
			case '\\':
				*o++ = (char)c;
				break;
			case '\b':
				*o++ = 'b';
				break;
			case '\f':
				*o++ = 'f';
				break;
			case '\n':
				*o++ = 'n';
				break;
			case '\r':
				*o++ = 'r';
				break;
			case '\t':
				*o++ = 't';
				break;
			default:
				memcpy(o, "u00", 3);
				o[3] = hex[c >> 4];
				o[4] = hex[c & 0xf];
				o += 5;
				break;
			}
			i++;
			continue;
		}
		k = pw_fl_utf8_seq(s + i, n - i, &bad);
		if (k) {
			memcpy(o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i += bad;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

/* --- pieces -------------------------------------------------------------------------------------
 */

/* RFC 3339 with nanoseconds; the part down to the second is formatted once per second */
static void jb_time(struct pw_flowlog *fl, struct jbuf *b, int64_t wall_ns)
{
	int64_t sec, ns;
	char *o;

	if (wall_ns < 0)
		wall_ns = 0;
	sec = wall_ns / NSEC_PER_SEC;
	ns = wall_ns % NSEC_PER_SEC;
	if (sec != fl->tcache_sec) {
		char t[40];

		pw_flowlog_format_time(sec * NSEC_PER_SEC, t, sizeof(t));
		memcpy(fl->tcache, t, 20); /* "YYYY-MM-DDTHH:MM:SS." */
		fl->tcache_sec = sec;
	}
	if (!jb_need(b, 32))
		return;
	o = b->p + b->len;
	*o++ = '"';
	memcpy(o, fl->tcache, 20);
	o += 20;
	for (int i = 8; i >= 0; i--) {
		o[i] = (char)('0' + ns % 10);
		ns /= 10;
	}
	o += 9;
	*o++ = 'Z';
	*o++ = '"';
	b->len = (size_t)(o - b->p);
}

static void jb_addr(struct jbuf *b, uint8_t family, const uint32_t a[4])
{
	char buf[INET6_ADDRSTRLEN];

	if (family != PW_FAMILY_V6) {
		const uint8_t *p = (const uint8_t *)a;
		char *o;

		if (!jb_need(b, 17))
			return;
		o = b->p + b->len;
		*o++ = '"';
		for (int i = 0; i < 4; i++) {
			unsigned int v = p[i];

			if (i)
				*o++ = '.';
			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
		}
		*o++ = '"';
		b->len = (size_t)(o - b->p);
		return;
	}
	if (!inet_ntop(AF_INET6, a, buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "invalid");
	JB_LIT(b, "\"");
	jb_cstr(b, buf);
	JB_LIT(b, "\"");
}

static bool addr_zero(const uint32_t a[4])
{
	return !a[0] && !a[1] && !a[2] && !a[3];
}

static void jb_ip(struct jbuf *b, uint8_t family, const uint32_t s[4], const uint32_t d[4],
		  bool no_source)
{
	JB_LIT(b, ",\"IP\":{");
	/* a socket-layer deny happens before the kernel picks a source address */
	if (!no_source || !addr_zero(s)) {
		JB_KEY(b, "source");
		jb_addr(b, family, s);
	}
	JB_KEY(b, "destination");
	jb_addr(b, family, d);
	if (family == PW_FAMILY_V6)
		JB_LIT(b, ",\"ipVersion\":\"IPv6\"}");
	else
		JB_LIT(b, ",\"ipVersion\":\"IPv4\"}");
}

/* sport == 0 on a socket deny: the port is not bound yet, so it is left out */
static void jb_l4(struct jbuf *b, uint8_t proto, uint16_t sport_be, uint16_t dport_be,
		  bool with_flags, uint8_t flags)
{
	const char *name = pw_fl_proto_name(proto);

	JB_LIT(b, ",\"ip_protocol\":");
	jb_u64(b, proto);
	if (!name)
		return;
	JB_LIT(b, ",\"l4\":{\"");
	jb_cstr(b, name);
	JB_LIT(b, "\":{");
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* the datapath keeps the echo identifier in both port fields, not type/code */
		if (sport_be) {
			JB_KEY(b, "echo_id");
			jb_u64(b, ntohs(sport_be));
		}
	} else {
		if (sport_be) {
			JB_KEY(b, "source_port");
			jb_u64(b, ntohs(sport_be));
		}
		JB_KEY(b, "destination_port");
		jb_u64(b, ntohs(dport_be));
		if (proto == IPPROTO_TCP && with_flags) {
			JB_LIT(b, ",\"flags\":{");
			for (int i = 0; i < 8; i++) {
				if (!(flags & (1u << i)))
					continue;
				jb_sep(b);
				JB_LIT(b, "\"");
				jb_cstr(b, pw_fl_tcp_flag_names[i]);
				JB_LIT(b, "\":true");
			}
			JB_LIT(b, "}");
		}
	}
	JB_LIT(b, "}}");
}

/* --- fragments
 * ------------------------------------------------------------------------------------ */

/* Borrow a fragment's storage as a buffer to render into; frag_done() gives it back. */
static struct jbuf frag_begin(struct frag *f)
{
	return (struct jbuf){.p = f->s, .cap = f->cap};
}

static const struct frag *frag_done(struct pw_flowlog *fl, struct frag *f, struct jbuf *b)
{
	f->s = b->p;
	f->cap = (uint32_t)b->cap;
	f->len = (uint32_t)b->len;
	f->gen = b->oom ? 0 : fl->gen;
	return b->oom ? NULL : f;
}

static void frag_free(struct frag *f)
{
	free(f->s);
}

/* {"ID":..,"identity":..,"namespace":..,"cidr":..,"labels":[..],"pod_name":..} */
static void render_endpoint(struct pw_flowlog *fl, struct jbuf *b, uint8_t family,
			    const uint32_t addr[4], uint32_t identity, uint32_t ep_id)
{
	struct pw_flow_endpoint e = {0};
	const char *rl;
	bool known = false, labels = false;
	int r = -ENOENT;

	if (!fl->have_enr)
		r = -ENOENT;
	else if (family && fl->enr.endpoint)
		r = fl->enr.endpoint(fl->enr.ctx, family, addr, identity, ep_id, &e);
	else if (!family && fl->enr.identity)
		r = fl->enr.identity(fl->enr.ctx, identity, &e);
	known = r == 0;
	if (known && e.identity)
		identity = e.identity;
	if (known && e.ep_id)
		ep_id = e.ep_id;
	JB_LIT(b, "{");
	if (ep_id) {
		JB_KEY(b, "ID");
		jb_u64(b, ep_id);
	}
	if (identity) {
		JB_KEY(b, "identity");
		jb_u64(b, identity);
	}
	if (known && e.ns) {
		JB_KEY(b, "namespace");
		pw_fl_jb_str(b, e.ns, SIZE_MAX);
	}
	if (known && e.cidr) {
		JB_KEY(b, "cidr");
		pw_fl_jb_str(b, e.cidr, 64);
	}
	for (size_t i = 0; known && e.labels && i < e.n_labels; i++) {
		if (!e.labels[i])
			continue;
		if (!labels)
			JB_KEY(b, "labels");
		jb_mem(b, labels ? "," : "[", 1);
		labels = true;
		pw_fl_jb_str(b, e.labels[i], SIZE_MAX);
	}
	if (known && e.cidr) {
		char lbl[80];

		snprintf(lbl, sizeof(lbl), "cidr:%.70s", e.cidr);
		if (!labels)
			JB_KEY(b, "labels");
		jb_mem(b, labels ? "," : "[", 1);
		labels = true;
		pw_fl_jb_str(b, lbl, sizeof(lbl));
	}
	rl = pw_fl_reserved_label(identity);
	if (rl) {
		if (!labels)
			JB_KEY(b, "labels");
		jb_mem(b, labels ? ",\"" : "[\"", 2);
		labels = true;
		jb_cstr(b, rl);
		JB_LIT(b, "\"");
	}
	if (labels)
		JB_LIT(b, "]");
	if (known && e.pod_name) {
		JB_KEY(b, "pod_name");
		pw_fl_jb_str(b, e.pod_name, SIZE_MAX);
	}
	JB_LIT(b, "}");
}

/* family 0: an identity alone (aggregate records), described by the enricher's identity() */
static const struct frag *endpoint_frag(struct pw_flowlog *fl, uint8_t family,
					const uint32_t addr[4], uint32_t identity, uint32_t ep_id)
{
	uint32_t h = pw_fl_mix32(
		addr[0] ^ pw_fl_mix32(addr[1] ^ pw_fl_mix32(addr[2] ^ pw_fl_mix32(addr[3]))) ^
		pw_fl_mix32(identity * 31u + ep_id) ^ family);
	struct ep_frag *e = &fl->ep_cache[h & (EP_CACHE - 1)];
	struct jbuf b;

	if (e->f.gen == fl->gen && e->family == family && e->identity == identity &&
	    e->ep_id == ep_id && !memcmp(e->addr, addr, sizeof(e->addr)))
		return &e->f;
	b = frag_begin(&e->f);
	render_endpoint(fl, &b, family, addr, identity, ep_id);
	e->family = family;
	e->identity = identity;
	e->ep_id = ep_id;
	memcpy(e->addr, addr, sizeof(e->addr));
	return frag_done(fl, &e->f, &b);
}

static void jb_frag(struct jbuf *b, const struct frag *f)
{
	if (!f) {
		b->oom = true;
		return;
	}
	jb_mem(b, f->s, f->len);
}

static void render_policy(struct jbuf *b, const struct pw_flow_policy *p)
{
	JB_LIT(b, "{");
	if (p->name) {
		JB_KEY(b, "name");
		pw_fl_jb_str(b, p->name, SIZE_MAX);
	}
	if (p->ns) {
		JB_KEY(b, "namespace");
		pw_fl_jb_str(b, p->ns, SIZE_MAX);
	}
	JB_KEY(b, "kind");
	pw_fl_jb_str(b, p->kind ? p->kind : "NetworkPolicy", SIZE_MAX);
	if (p->rule >= 0) {
		JB_KEY(b, "rule");
		jb_i64(b, p->rule);
	}
	JB_KEY(b, "direction");
	JB_LIT(b, "\"");
	jb_cstr(b, pw_dir_str(p->direction));
	JB_LIT(b, "\"}");
}

/* "[{policy}]" of a cookie, empty when the enricher does not know it */
static const struct frag *policy_frag(struct pw_flowlog *fl, uint32_t cookie)
{
	struct pol_frag *e = &fl->pol_cache[pw_fl_mix32(cookie) & (POL_CACHE - 1)];
	struct pw_flow_policy p = {.rule = -1};
	struct jbuf b;

	if (e->f.gen == fl->gen && e->cookie == cookie)
		return &e->f;
	b = frag_begin(&e->f);
	if (fl->have_enr && fl->enr.policy && fl->enr.policy(fl->enr.ctx, cookie, &p) == 0) {
		JB_LIT(&b, "[");
		render_policy(&b, &p);
		JB_LIT(&b, "]");
	}
	e->cookie = cookie;
	return frag_done(fl, &e->f, &b);
}

/* ,"isolated_by":[...](,"isolated_by_more":N) of an endpoint and direction, or empty */
static const struct frag *isolating_frag(struct pw_flowlog *fl, uint32_t ep_id, uint8_t dir)
{
	struct iso_frag *e = &fl->iso_cache[pw_fl_mix32(ep_id * 2u + dir) & (ISO_CACHE - 1)];
	struct pw_flow_policy p[MAX_ISOLATING];
	struct jbuf b;
	int n;

	if (e->f.gen == fl->gen && e->ep_id == ep_id && e->dir == dir)
		return &e->f;
	b = frag_begin(&e->f);
	memset(p, 0, sizeof(p));
	for (int i = 0; i < MAX_ISOLATING; i++)
		p[i].rule = -1;
	n = fl->enr.isolating(fl->enr.ctx, ep_id, dir, p, MAX_ISOLATING);
	if (n > 0) {
		JB_LIT(&b, ",\"isolated_by\":[");
		for (int i = 0; i < n && i < MAX_ISOLATING; i++) {
			jb_sep(&b);
			render_policy(&b, &p[i]);
		}
		JB_LIT(&b, "]");
		if (n > MAX_ISOLATING) {
			JB_LIT(&b, ",\"isolated_by_more\":");
			jb_u64(&b, (uint64_t)(n - MAX_ISOLATING));
		}
	}
	e->ep_id = ep_id;
	e->dir = dir;
	return frag_done(fl, &e->f, &b);
}

/* ,"policy_cookie":N and, when the enricher knows the rule, ,"<key>":[{...}] */
static void jb_cookie_policy(struct pw_flowlog *fl, struct jbuf *b, const char *key,
			     uint32_t cookie)
{
	const struct frag *f;

	if (!cookie)
		return;
	JB_LIT(b, ",\"policy_cookie\":");
	jb_u64(b, cookie);
	f = policy_frag(fl, cookie);
	if (!f || !f->len) {
		if (!f)
			b->oom = true;
		return;
	}
	JB_LIT(b, ",\"");
	jb_cstr(b, key);
	JB_LIT(b, "\":");
	jb_frag(b, f);
}

/* --- Services
 * -------------------------------------------------------------------------------------- */

/*
 * The Service a socket call was sent to (its destination is then the backend chosen):
 * Hubble's destination_service, plus the frontend as called.
 */
static void jb_service(struct pw_flowlog *fl, struct jbuf *b, uint8_t family,
		       const uint32_t front[4], uint16_t port_be, uint8_t proto)
{
	char buf[INET6_ADDRSTRLEN + 16], addr[INET6_ADDRSTRLEN], name[512];
	const char *slash;

	if (!inet_ntop(family == PW_FAMILY_V6 ? AF_INET6 : AF_INET, front, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "invalid");
	snprintf(buf, sizeof(buf), family == PW_FAMILY_V6 ? "[%s]:%u" : "%s:%u", addr,
		 ntohs(port_be));
	JB_LIT(b, ",\"destination_service\":{\"frontend\":\"");
	jb_cstr(b, buf);
	JB_LIT(b, "\"");
	if (fl->have_enr && fl->enr.service &&
	    !fl->enr.service(fl->enr.ctx, family, front, port_be, proto, name, sizeof(name)) &&
	    (slash = strchr(name, '/'))) {
		JB_LIT(b, ",\"name\":");
		pw_fl_jb_str(b, slash + 1, SIZE_MAX);
		JB_LIT(b, ",\"namespace\":");
		pw_fl_jb_str(b, name, (size_t)(slash - name));
	}
	JB_LIT(b, "}");
}

/* A pod's egress flow to a backend that its connect() reached through a Service frontend. */
static void jb_flow_service(struct pw_flowlog *fl, struct jbuf *b, uint32_t ep_id, uint8_t family,
			    uint8_t proto, const uint32_t daddr[4], uint16_t dport_be)
{
	uint32_t front[4];
	uint16_t fport;

	if (ep_id && fl->have_enr && fl->enr.flow_service &&
	    !fl->enr.flow_service(fl->enr.ctx, ep_id, family, proto, daddr, dport_be, front,
				  &fport))
		jb_service(fl, b, family, front, fport, proto);
}

/* --- records ------------------------------------------------------------------------------------
 */

static struct jbuf *rec_begin(struct pw_flowlog *fl, int64_t wall_ns, const char *kind)
{
	struct jbuf *b = &fl->rec;

	b->len = 0;
	b->oom = false;
	JB_LIT(b, "{\"time\":");
	jb_time(fl, b, wall_ns);
	JB_LIT(b, ",\"kind\":\"");
	jb_cstr(b, kind);
	JB_LIT(b, "\"");
	if (fl->node_frag)
		jb_mem(b, fl->node_frag, fl->node_frag_len);
	return b;
}

static int rec_finish(struct pw_flowlog *fl, struct jbuf *b)
{
	JB_LIT(b, ",\"seq\":");
	jb_u64(b, fl->seq + 1);
	JB_LIT(b, "}");
	if (!jb_need(b, 1) || b->oom)
		return -ENOMEM;
	b->p[b->len] = '\0';
	fl->seq++;
	return pw_fl_sink_line(fl, b->p, b->len);
}

/*
 * The two ends, and between them the Service: of svc_ev (a socket call to a frontend), or
 * looked up for a pod's egress flow (flow_svc).
 */
static void jb_endpoints(struct pw_flowlog *fl, struct jbuf *b, uint8_t family, const uint32_t s[4],
			 const uint32_t d[4], uint32_t sid, uint32_t did, uint32_t ep_id,
			 bool egress, const struct pw_event *svc_ev, bool flow_svc, uint8_t proto,
			 uint16_t dport_be)
{
	/* the subject endpoint is the source of its egress and the destination of its ingress */
	JB_LIT(b, ",\"source\":");
	jb_frag(b, endpoint_frag(fl, family, s, sid, egress ? ep_id : 0));
	if (svc_ev)
		jb_service(fl, b, family, svc_ev->saddr, svc_ev->sport, proto);
	else if (flow_svc)
		jb_flow_service(fl, b, ep_id, family, proto, d, dport_be);
	JB_LIT(b, ",\"destination\":");
	jb_frag(b, endpoint_frag(fl, family, d, did, egress ? 0 : ep_id));
}

int pw_fl_emit_event(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t suppressed)
{
	bool egress = ev->direction == PW_DIR_EGRESS;
	bool sock = ev->type == PW_EV_SOCK_DENY, svc = ev->flags & PW_EV_F_SVC;
	static const uint32_t zero[4];
	/* a socket record sent to a Service: its source fields hold the frontend, not a source */
	const uint32_t *saddr = svc ? zero : ev->saddr;
	struct jbuf *b;
	char sum[160];
	int sub;

	if (fl->legacy)
		return pw_fl_jsonc_event(fl, ev, suppressed);
	b = rec_begin(fl, pw_fl_wall(fl, ev->ts_ns), pw_fl_event_kind(ev->type));
	switch (ev->type) {
	case PW_EV_FLOW_NEW:
		JB_LIT(b, ",\"verdict\":\"FORWARDED\",\"event_type\":{\"type\":5}");
		break;
	case PW_EV_AUDIT:
		JB_LIT(b, ",\"verdict\":\"AUDIT\",\"event_type\":{\"type\":5}");
		break;
	default:
		JB_LIT(b, ",\"verdict\":\"DROPPED\",\"drop_reason_desc\":\"");
		jb_cstr(b, pw_flowlog_drop_reason_desc(ev->reason));
		JB_LIT(b, "\",\"event_type\":{\"type\":1");
		sub = pw_fl_drop_reason_code(ev->reason);
		if (sub) {
			JB_LIT(b, ",\"sub_type\":");
			jb_u64(b, (uint64_t)sub);
		}
		JB_LIT(b, "}");
		break;
	}
	JB_LIT(b, ",\"reason\":\"");
	jb_cstr(b, pw_reason_str(ev->reason));
	JB_LIT(b, "\"");
	jb_ip(b, ev->family, saddr, ev->daddr, sock);
	jb_l4(b, ev->proto, ev->sport, ev->dport, !sock, ev->tcp_flags);
	jb_endpoints(fl, b, ev->family, saddr, ev->daddr, ev->src_identity, ev->dst_identity,
		     ev->ep_id, egress, svc ? ev : NULL, !svc && !sock && egress, ev->proto,
		     ev->dport);
	if (sock)
		JB_LIT(b, ",\"Type\":\"SOCK\"");
	else
		JB_LIT(b, ",\"Type\":\"L3_L4\"");
	if (egress)
		JB_LIT(b, ",\"traffic_direction\":\"EGRESS\"");
	else
		JB_LIT(b, ",\"traffic_direction\":\"INGRESS\"");
	/* replies pass without a record, so every record is of an original direction */
	if (ev->type != PW_EV_REVOKED)
		JB_LIT(b, ",\"is_reply\":false");
	if (ev->ifindex) {
		JB_LIT(b, ",\"interface\":{\"index\":");
		jb_u64(b, ev->ifindex);
		JB_LIT(b, "}");
	}
	if (ev->type == PW_EV_FLOW_NEW) {
		jb_cookie_policy(fl, b, egress ? "egress_allowed_by" : "ingress_allowed_by",
				 ev->cookie);
	} else if (ev->type == PW_EV_REVOKED) {
		/* the rule that had admitted the flow and no longer does */
		jb_cookie_policy(fl, b, "previously_allowed_by", ev->cookie);
	} else if (ev->cookie) {
		JB_LIT(b, ",\"policy_cookie\":");
		jb_u64(b, ev->cookie);
	}
	/* a revoked flow: the policies isolating the endpoint now, none of which admits it */
	if ((ev->reason == PW_DROP_POLICY || ev->reason == PW_OK_AUDIT ||
	     ev->reason == PW_DROP_REVOKED) &&
	    fl->have_enr && fl->enr.isolating && ev->ep_id)
		jb_frag(b, isolating_frag(fl, ev->ep_id, ev->direction));
	/* asked each time: a quarantined pod's drops are few (the kernel limits them) */
	if (ev->reason == PW_DROP_QUARANTINE && fl->have_enr && fl->enr.quarantine_reason) {
		const char *why = fl->enr.quarantine_reason(fl->enr.ctx, ev->ep_id);

		if (why && *why) {
			JB_LIT(b, ",\"quarantine_reason\":");
			pw_fl_jb_str(b, why, SIZE_MAX);
		}
	}
	if (ev->flags & PW_EV_F_SOCK) {
		JB_LIT(b, ",\"process\":{\"pid\":");
		jb_u64(b, ev->pid);
		JB_LIT(b, ",\"comm\":");
		pw_fl_jb_str(b, ev->comm, sizeof(ev->comm));
		JB_LIT(b, "},\"cgroup_id\":");
		jb_u64(b, ev->cgroup_id);
	}
	if (ev->pkt_len) {
		JB_LIT(b, ",\"packet_length\":");
		jb_u64(b, ev->pkt_len);
	}
	if (suppressed) {
		JB_LIT(b, ",\"suppressed\":");
		jb_u64(b, suppressed);
	}
	pw_fl_summary(ev, suppressed, sum, sizeof(sum));
	JB_LIT(b, ",\"Summary\":\"");
	jb_cstr(b, sum);
	JB_LIT(b, "\"");
	return rec_finish(fl, b);
}

int pw_fl_emit_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val, enum pw_flow_end_reason why)
{
	bool egress = key->scope == PW_DIR_EGRESS, audit = val->flags & PW_CT_F_AUDIT;
	const char *end, *why_name;
	struct jbuf *b;
	int ipfix;

	if (fl->legacy)
		return pw_fl_jsonc_flow_end(fl, key, val, why);
	why_name = pw_fl_end_reason(why, &ipfix, &end);
	/* the record's time is when the end was observed; the flow's own times are below */
	b = rec_begin(fl, pw_fl_wall(fl, pw_fl_mono_now()), "flow_end");
	/*
	 * An audited flow passed: its AUDIT verdict was recorded once, by its `audit` record
	 * (design.md); the end says FORWARDED and marks the admission with "audit".
	 */
	JB_LIT(b, ",\"verdict\":\"FORWARDED\"");
	if (audit)
		JB_LIT(b, ",\"audit\":true");
	jb_ip(b, key->family, key->saddr, key->daddr, false);
	jb_l4(b, key->proto, key->sport, key->dport, true, val->tcp_flags[0] | val->tcp_flags[1]);
	jb_endpoints(fl, b, key->family, key->saddr, key->daddr, val->src_identity,
		     val->dst_identity, key->ep_id, egress, NULL, false, key->proto, key->dport);
	/* after both ends here, as the flow-end record has always had it */
	if (egress)
		jb_flow_service(fl, b, key->ep_id, key->family, key->proto, key->daddr, key->dport);
	JB_LIT(b, ",\"Type\":\"L3_L4\"");
	if (egress)
		JB_LIT(b, ",\"traffic_direction\":\"EGRESS\"");
	else
		JB_LIT(b, ",\"traffic_direction\":\"INGRESS\"");
	jb_cookie_policy(fl, b, egress ? "egress_allowed_by" : "ingress_allowed_by", val->cookie);
	JB_LIT(b, ",\"flow_end\":{\"flowStartMilliseconds\":");
	jb_i64(b, pw_fl_wall(fl, val->created_ns) / NSEC_PER_MSEC);
	JB_LIT(b, ",\"flowEndMilliseconds\":");
	jb_i64(b, pw_fl_wall(fl, val->last_seen_ns) / NSEC_PER_MSEC);
	JB_LIT(b, ",\"initiatorPackets\":");
	jb_u64(b, val->packets[0]);
	JB_LIT(b, ",\"responderPackets\":");
	jb_u64(b, val->packets[1]);
	JB_LIT(b, ",\"initiatorOctets\":");
	jb_u64(b, val->bytes[0]);
	JB_LIT(b, ",\"responderOctets\":");
	jb_u64(b, val->bytes[1]);
	if (key->proto == IPPROTO_TCP) {
		JB_LIT(b, ",\"tcpControlBits\":");
		jb_u64(b, val->tcp_flags[0]);
		JB_LIT(b, ",\"reverseTcpControlBits\":");
		jb_u64(b, val->tcp_flags[1]);
	}
	JB_LIT(b, ",\"flowEndReason\":");
	jb_u64(b, (uint64_t)ipfix);
	JB_LIT(b, ",\"flowEndReasonName\":\"");
	jb_cstr(b, why_name);
	JB_LIT(b, "\",\"end\":\"");
	jb_cstr(b, end);
	JB_LIT(b, "\",\"state\":\"");
	jb_cstr(b, val->state < 3 ? pw_fl_ct_states[val->state] : "unknown");
	JB_LIT(b, "\"");
	if (val->flags & PW_CT_F_MIDSTREAM)
		JB_LIT(b, ",\"midstream\":true");
	JB_LIT(b, "}");
	return rec_finish(fl, b);
}

int pw_fl_emit_lost(struct pw_flowlog *fl, int cpu, uint64_t lost, const char *reason,
		    const char *summary)
{
	struct jbuf *b;

	if (fl->legacy)
		return pw_fl_jsonc_lost(fl, cpu, lost, reason, summary);
	b = rec_begin(fl, pw_fl_wall(fl, pw_fl_mono_now()), "lost");
	JB_LIT(b, ",\"lost\":");
	jb_u64(b, lost);
	if (cpu >= 0) {
		JB_LIT(b, ",\"cpu\":");
		jb_u64(b, (uint64_t)cpu);
	}
	JB_LIT(b, ",\"lost_total\":");
	jb_u64(b, fl->st.lost);
	JB_LIT(b, ",\"lost_reason\":");
	pw_fl_jb_str(b, reason, SIZE_MAX);
	JB_LIT(b, ",\"Summary\":");
	pw_fl_jb_str(b, summary, SIZE_MAX);
	return rec_finish(fl, b);
}

/* One --flow-aggregate record: a key's counts over [start_ns, end_ns] (CLOCK_MONOTONIC). */
int pw_fl_emit_aggregate(struct pw_flowlog *fl, const struct agg_entry *a, uint64_t start_ns,
			 uint64_t end_ns)
{
	static const char *const verdicts[] = {"FORWARDED", "DROPPED", "AUDIT"};
	static const uint32_t zero[4];
	const struct agg_key *k = &a->key;
	const char *pn = pw_fl_proto_name(k->proto);
	bool egress = k->direction == PW_DIR_EGRESS;
	struct jbuf *b = rec_begin(fl, pw_fl_wall(fl, end_ns), "flow_aggregate");
	char sum[160];

	JB_LIT(b, ",\"verdict\":\"");
	jb_cstr(b, verdicts[k->verdict < 3 ? k->verdict : 0]);
	JB_LIT(b, "\",\"ip_protocol\":");
	jb_u64(b, k->proto);
	if (pn) {
		JB_LIT(b, ",\"l4\":{\"");
		jb_cstr(b, pn);
		JB_LIT(b, "\":{");
		if (k->proto != IPPROTO_ICMP && k->proto != IPPROTO_ICMPV6) {
			JB_LIT(b, "\"destination_port\":");
			jb_u64(b, ntohs(k->dport));
		}
		JB_LIT(b, "}}");
	}
	JB_LIT(b, ",\"source\":");
	jb_frag(b, endpoint_frag(fl, 0, zero, k->src_identity, 0));
	JB_LIT(b, ",\"destination\":");
	jb_frag(b, endpoint_frag(fl, 0, zero, k->dst_identity, 0));
	JB_LIT(b, ",\"Type\":\"L3_L4\"");
	if (egress)
		JB_LIT(b, ",\"traffic_direction\":\"EGRESS\"");
	else
		JB_LIT(b, ",\"traffic_direction\":\"INGRESS\"");
	if (k->verdict == AGG_DROPPED) {
		if (k->cookie) {
			JB_LIT(b, ",\"policy_cookie\":");
			jb_u64(b, k->cookie);
		}
	} else {
		jb_cookie_policy(fl, b, egress ? "egress_allowed_by" : "ingress_allowed_by",
				 k->cookie);
	}
	JB_LIT(b, ",\"aggregate\":{\"flowStartMilliseconds\":");
	jb_i64(b, pw_fl_wall(fl, start_ns) / NSEC_PER_MSEC);
	JB_LIT(b, ",\"flowEndMilliseconds\":");
	jb_i64(b, pw_fl_wall(fl, end_ns) / NSEC_PER_MSEC);
	JB_LIT(b, ",\"flows\":");
	jb_u64(b, a->flows);
	JB_LIT(b, ",\"denied\":");
	jb_u64(b, a->denied);
	JB_LIT(b, ",\"flows_ended\":");
	jb_u64(b, a->flows_ended);
	JB_LIT(b, ",\"packets\":");
	jb_u64(b, a->packets);
	JB_LIT(b, ",\"octets\":");
	jb_u64(b, a->octets);
	JB_LIT(b, "}");
	if (pn && k->proto != IPPROTO_ICMP && k->proto != IPPROTO_ICMPV6)
		snprintf(sum, sizeof(sum), "%s/%u: %llu new, %llu ended, %llu denied", pn,
			 ntohs(k->dport), (unsigned long long)a->flows,
			 (unsigned long long)a->flows_ended, (unsigned long long)a->denied);
	else
		snprintf(sum, sizeof(sum), "%s %u: %llu new, %llu ended, %llu denied",
			 pn ? pn : "IP protocol", pn ? 0u : k->proto, (unsigned long long)a->flows,
			 (unsigned long long)a->flows_ended, (unsigned long long)a->denied);
	JB_LIT(b, ",\"Summary\":\"");
	jb_cstr(b, sum);
	JB_LIT(b, "\"");
	return rec_finish(fl, b);
}

/* --- lifecycle -------------------------------------------------------------------------------- */

int pw_fl_rec_init(struct pw_flowlog *fl)
{
	fl->gen = 1;
	fl->tcache_sec = -1;
	fl->ep_cache = calloc(EP_CACHE, sizeof(*fl->ep_cache));
	fl->pol_cache = calloc(POL_CACHE, sizeof(*fl->pol_cache));
	fl->iso_cache = calloc(ISO_CACHE, sizeof(*fl->iso_cache));
	if (!fl->ep_cache || !fl->pol_cache || !fl->iso_cache)
		return -ENOMEM;
	if (fl->node_name) {
		struct jbuf b = {0};

		JB_LIT(&b, ",\"node_name\":");
		pw_fl_jb_str(&b, fl->node_name, SIZE_MAX);
		if (b.oom) {
			free(b.p);
			return -ENOMEM;
		}
		fl->node_frag = b.p;
		fl->node_frag_len = b.len;
	}
	return 0;
}

void pw_fl_rec_free(struct pw_flowlog *fl)
{
	for (size_t i = 0; fl->ep_cache && i < EP_CACHE; i++)
		frag_free(&fl->ep_cache[i].f);
	for (size_t i = 0; fl->pol_cache && i < POL_CACHE; i++)
		frag_free(&fl->pol_cache[i].f);
	for (size_t i = 0; fl->iso_cache && i < ISO_CACHE; i++)
		frag_free(&fl->iso_cache[i].f);
	free(fl->ep_cache);
	free(fl->pol_cache);
	free(fl->iso_cache);
	free(fl->node_frag);
	free(fl->rec.p);
}

void pw_flowlog_invalidate(struct pw_flowlog *fl)
{
	if (fl)
		fl->gen++;
}
