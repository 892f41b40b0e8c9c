// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Flow logs: datapath events, conntrack flow ends and perf-buffer losses into JSON lines
 * (Hubble field names, docs/flowlog.md), rate limited without losing counts, written to a
 * rotating file or stdout, kept in a ring and streamed to subscribers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "flowlog.h"

#define NSEC_PER_SEC  1000000000LL
#define NSEC_PER_MSEC 1000000LL
#define MAX_ISOLATING 16 /* policies named in one deny record; the rest are counted */

/* --- rate limiting: a fixed, set-associative table ----------------------------------------- */

struct rl_key {
	uint32_t ep_id;
	uint8_t type;
	uint8_t family;
	uint8_t proto;
	uint8_t direction;
	uint32_t saddr[4];
	uint32_t daddr[4];
	uint16_t dport;
	uint16_t pad;
};

struct rl_slot {
	struct rl_key key;
	bool used;
	uint32_t emitted;     /* records emitted in the current window */
	uint64_t win_start;   /* CLOCK_MONOTONIC ns */
	uint64_t last_ns;     /* last event of this key, for eviction */
	uint64_t pending;     /* denies not recorded yet */
	struct pw_event last; /* the newest of them: what a flush records */
};

struct ring_rec {
	char *line;
	size_t len;
};

struct sub {
	int id;
	pw_flowlog_sub_fn fn; /* NULL: unsubscribed during a dispatch, reaped after it */
	void *ctx;
};

struct pw_flowlog {
	/* file sink */
	char *path;
	int fd; /* -1: none */
	bool is_stdout;
	uint64_t max_bytes;
	unsigned int keep;
	enum pw_flowlog_fsync fsync;
	bool write_failing; /* log the first failure of a run of them, not each */

	/* ring */
	struct ring_rec *ring;
	size_t ring_cap, ring_head, ring_len;

	/* subscribers */
	struct sub *subs;
	size_t n_subs, cap_subs;
	int next_sub_id;
	int dispatching;

	/* rate limit */
	struct rl_slot *rl;
	size_t rl_sets; /* power of two */
	uint64_t rl_window;
	unsigned int rl_burst;
	bool rl_disable;

	uint32_t sample;
	char *node_name;
	struct pw_flow_enricher enr;
	bool have_enr;
	bool offset_fixed;
	int64_t offset;
	uint64_t seq;

	pw_log_fn log;
	void *log_ctx;
	struct pw_flowlog_stats st;
};

static void logf_(struct pw_flowlog *fl, enum pw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void logf_(struct pw_flowlog *fl, enum pw_log_level lvl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!fl->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fl->log(fl->log_ctx, lvl, msg);
}

/* --- helpers ------------------------------------------------------------------------------- */

uint32_t pw_flow_hash(uint8_t family, uint8_t proto, const uint32_t saddr[4],
		      const uint32_t daddr[4], uint16_t sport_be, uint16_t dport_be)
{
	/* FNV-1a over a fixed byte layout, then a murmur3 finaliser to spread the low bits */
	uint8_t buf[2 + 16 + 16 + 4];
	uint32_t h = 2166136261u;

	buf[0] = family;
	buf[1] = proto;
	memcpy(buf + 2, saddr, 16);
	memcpy(buf + 18, daddr, 16);
	memcpy(buf + 34, &sport_be, 2);
	memcpy(buf + 36, &dport_be, 2);
	for (size_t i = 0; i < sizeof(buf); i++) {
		h ^= buf[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 with *bad = bytes to skip */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0];
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		*bad = 1;
		return 0;
	}
	/* a maximal invalid subpart becomes one U+FFFD (Unicode's recommended practice) */
	for (i = 1; i < need; i++) {
		unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xbf;

		if (i >= n || s[i] < l || s[i] > h) {
			*bad = i;
			return 0;
		}
	}
	return need;
}

size_t pw_utf8_sanitize(const char *src, size_t n, char *dst, size_t dstlen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, end;

	if (!dstlen)
		return 0;
	end = strnlen(src, n);
	while (i < end) {
		size_t bad = 0, k = utf8_seq(s + i, end - i, &bad);
		const char *out = k ? src + i : "\xef\xbf\xbd";
		size_t outlen = k ? k : 3;

		if (o + outlen >= dstlen)
			break;
		memcpy(dst + o, out, outlen);
		o += outlen;
		i += k ? k : bad;
	}
	dst[o] = '\0';
	return o;
}

const char *pw_flowlog_format_time(int64_t wall_ns, char *buf, size_t len)
{
	time_t sec;
	struct tm tm;
	char base[32];

	if (wall_ns < 0)
		wall_ns = 0;
	sec = (time_t)(wall_ns / NSEC_PER_SEC);
	if (!gmtime_r(&sec, &tm) || !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "1970-01-01T00:00:00.000000000Z");
		return buf;
	}
	snprintf(buf, len, "%s.%09lldZ", base, (long long)(wall_ns % NSEC_PER_SEC));
	return buf;
}

/* the Hubble names and codes of the reasons come from their one table (podwall/reasons.h) */
const char *pw_flowlog_drop_reason_desc(unsigned int reason)
{
	return pw_reason_hubble_drop_name(reason);
}

static int drop_reason_code(unsigned int reason)
{
	return pw_reason_hubble_drop_code(reason);
}

/* cilium monitor message types, Hubble's event_type.type */
#define MSG_DROP	   1
#define MSG_POLICY_VERDICT 5

static int64_t measure_offset(void)
{
	/*
	 * Bracket a CLOCK_REALTIME read between two CLOCK_MONOTONIC reads and keep the
	 * tightest of a few tries, so a preemption between the reads cannot skew the offset.
	 */
	int64_t best = 0, best_gap = INT64_MAX;

	for (int i = 0; i < 5; i++) {
		struct timespec m1, r, m2;
		int64_t a, b, w;

		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_MONOTONIC, &m2);
		a = m1.tv_sec * NSEC_PER_SEC + m1.tv_nsec;
		b = m2.tv_sec * NSEC_PER_SEC + m2.tv_nsec;
		w = r.tv_sec * NSEC_PER_SEC + r.tv_nsec;
		if (b - a < best_gap) {
			best_gap = b - a;
			best = w - (a + (b - a) / 2);
		}
	}
	return best;
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

void pw_flowlog_clock_resync(struct pw_flowlog *fl)
{
	if (!fl->offset_fixed)
		fl->offset = measure_offset();
}

int64_t pw_flowlog_clock_offset(const struct pw_flowlog *fl)
{
	return fl->offset;
}

static int64_t to_wall(const struct pw_flowlog *fl, uint64_t mono)
{
	return (int64_t)mono + fl->offset;
}

/* --- JSON building ------------------------------------------------------------------------ */

/* Every string that did not come from this file goes through here: never raw bytes. */
static int add_str(json_object *o, const char *key, const char *s, size_t maxlen)
{
	char stackbuf[256] = "", *buf = stackbuf;
	size_t n = strnlen(s, maxlen), cap = 3 * n + 1, len;
	json_object *v;

	if (cap > sizeof(stackbuf)) {
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
	}
	len = pw_utf8_sanitize(s, n, buf, cap);
	v = json_object_new_string_len(buf, (int)len);
	if (buf != stackbuf)
		free(buf);
	if (!v)
		return -ENOMEM;
	if (key)
		return json_object_object_add(o, key, v) ? -ENOMEM : 0;
	return json_object_array_add(o, v) ? -ENOMEM : 0;
}

static void add_lit(json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s));
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	/* json-c 0.16 prints uint64 exactly; int64 would wrap counters above 2^63 */
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static const char *addr_str(uint8_t family, const uint32_t a[4], char *buf, size_t len)
{
	if (!inet_ntop(family == PW_FAMILY_V6 ? AF_INET6 : AF_INET, a, buf, (socklen_t)len))
		snprintf(buf, len, "invalid");
	return buf;
}

static bool addr_zero(const uint32_t a[4])
{
	return !a[0] && !a[1] && !a[2] && !a[3];
}

static void add_ip(json_object *o, uint8_t family, const uint32_t s[4], const uint32_t d[4],
		   bool no_source)
{
	json_object *ip = json_object_new_object();
	char buf[INET6_ADDRSTRLEN];

	/* a socket-layer deny happens before the kernel picks a source address */
	if (!no_source || !addr_zero(s))
		add_lit(ip, "source", addr_str(family, s, buf, sizeof(buf)));
	add_lit(ip, "destination", addr_str(family, d, buf, sizeof(buf)));
	add_lit(ip, "ipVersion", family == PW_FAMILY_V6 ? "IPv6" : "IPv4");
	json_object_object_add(o, "IP", ip);
}

static json_object *tcp_flags_obj(uint8_t f)
{
	static const char *const names[8] = {"FIN", "SYN", "RST", "PSH",
					     "ACK", "URG", "ECE", "CWR"};
	json_object *o = json_object_new_object();

	for (int i = 0; i < 8; i++) {
		if (f & (1u << i))
			json_object_object_add(o, names[i], json_object_new_boolean(1));
	}
	return o;
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	case IPPROTO_ICMP:
		return "ICMPv4";
	case IPPROTO_ICMPV6:
		return "ICMPv6";
	default:
		return NULL;
	}
}

/* sport == 0 on a socket deny: the port is not bound yet, so it is left out */
static void add_l4(json_object *o, uint8_t proto, uint16_t sport_be, uint16_t dport_be,
		   bool with_flags, uint8_t flags)
{
	const char *name = proto_name(proto);
	json_object *l4, *p;

	json_object_object_add(o, "ip_protocol", json_object_new_int(proto));
	if (!name)
		return;
	l4 = json_object_new_object();
	p = json_object_new_object();
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		/* the datapath keeps the echo identifier in both port fields, not type/code */
		if (sport_be)
			json_object_object_add(p, "echo_id", json_object_new_int(ntohs(sport_be)));
	} else {
		if (sport_be)
			json_object_object_add(p, "source_port",
					       json_object_new_int(ntohs(sport_be)));
		json_object_object_add(p, "destination_port", json_object_new_int(ntohs(dport_be)));
		if (proto == IPPROTO_TCP && with_flags)
			json_object_object_add(p, "flags", tcp_flags_obj(flags));
	}
	json_object_object_add(l4, name, p);
	json_object_object_add(o, "l4", l4);
}

static const char *reserved_label(uint32_t id)
{
	if (id == PW_ID_HOST)
		return "reserved:host";
	if (id == PW_ID_WORLD || (id & PW_ID_CIDR_FLAG))
		return "reserved:world";
	if (id == PW_ID_UNKNOWN)
		return "reserved:unknown";
	return NULL;
}

static void add_endpoint(struct pw_flowlog *fl, json_object *o, const char *key, uint8_t family,
			 const uint32_t addr[4], uint32_t identity, uint32_t ep_id)
{
	struct pw_flow_endpoint e = {0};
	json_object *ep = json_object_new_object(), *labels = json_object_new_array();
	const char *rl;
	bool known = false;

	if (fl->have_enr && fl->enr.endpoint &&
	    fl->enr.endpoint(fl->enr.ctx, family, addr, identity, ep_id, &e) == 0)
		known = true;
	if (known && e.identity)
		identity = e.identity;
	if (known && e.ep_id)
		ep_id = e.ep_id;
	if (ep_id)
		add_u64(ep, "ID", ep_id);
	if (identity)
		add_u64(ep, "identity", identity);
	if (known && e.ns)
		add_str(ep, "namespace", e.ns, SIZE_MAX);
	for (size_t i = 0; known && e.labels && i < e.n_labels; i++) {
		if (e.labels[i])
			add_str(labels, NULL, e.labels[i], SIZE_MAX);
	}
	if (known && e.cidr) {
		char lbl[80];

		snprintf(lbl, sizeof(lbl), "cidr:%.70s", e.cidr);
		add_str(labels, NULL, lbl, sizeof(lbl));
		add_str(ep, "cidr", e.cidr, 64);
	}
	rl = reserved_label(identity);
	if (rl)
		json_object_array_add(labels, json_object_new_string(rl));
	if (json_object_array_length(labels))
		json_object_object_add(ep, "labels", labels);
	else
		json_object_put(labels);
	if (known && e.pod_name)
		add_str(ep, "pod_name", e.pod_name, SIZE_MAX);
	json_object_object_add(o, key, ep);
}

static json_object *policy_obj(const struct pw_flow_policy *p)
{
	json_object *o = json_object_new_object();

	if (p->name)
		add_str(o, "name", p->name, SIZE_MAX);
	if (p->ns)
		add_str(o, "namespace", p->ns, SIZE_MAX);
	add_str(o, "kind", p->kind ? p->kind : "NetworkPolicy", SIZE_MAX);
	if (p->rule >= 0)
		json_object_object_add(o, "rule", json_object_new_int(p->rule));
	add_lit(o, "direction", pw_dir_str(p->direction));
	return o;
}

/* The rule behind a cookie under `key` (always with the raw cookie, for `podwall explain`) */
static void add_cookie_policy(struct pw_flowlog *fl, json_object *o, const char *key,
			      uint32_t cookie)
{
	struct pw_flow_policy p = {.rule = -1};
	json_object *arr;

	if (!cookie)
		return;
	add_u64(o, "policy_cookie", cookie);
	if (!fl->have_enr || !fl->enr.policy || fl->enr.policy(fl->enr.ctx, cookie, &p) != 0)
		return;
	arr = json_object_new_array();
	json_object_array_add(arr, policy_obj(&p));
	json_object_object_add(o, key, arr);
}

static void add_isolating(struct pw_flowlog *fl, json_object *o, uint32_t ep_id, uint8_t dir)
{
	struct pw_flow_policy p[MAX_ISOLATING];
	json_object *arr;
	int n;

	if (!fl->have_enr || !fl->enr.isolating || !ep_id)
		return;
	memset(p, 0, sizeof(p));
	for (int i = 0; i < MAX_ISOLATING; i++)
		p[i].rule = -1;
	n = fl->enr.isolating(fl->enr.ctx, ep_id, dir, p, MAX_ISOLATING);
	if (n <= 0)
		return;
	arr = json_object_new_array();
	for (int i = 0; i < n && i < MAX_ISOLATING; i++)
		json_object_array_add(arr, policy_obj(&p[i]));
	json_object_object_add(o, "isolated_by", arr);
	if (n > MAX_ISOLATING)
		json_object_object_add(o, "isolated_by_more",
				       json_object_new_int(n - MAX_ISOLATING));
}

static json_object *new_record(struct pw_flowlog *fl, int64_t wall_ns, const char *kind)
{
	json_object *o = json_object_new_object();
	char tbuf[40];

	if (!o)
		return NULL;
	add_lit(o, "time", pw_flowlog_format_time(wall_ns, tbuf, sizeof(tbuf)));
	add_lit(o, "kind", kind);
	if (fl->node_name)
		add_str(o, "node_name", fl->node_name, SIZE_MAX);
	return o;
}

static void add_event_type(json_object *o, int type, int sub)
{
	json_object *et = json_object_new_object();

	json_object_object_add(et, "type", json_object_new_int(type));
	if (sub)
		json_object_object_add(et, "sub_type", json_object_new_int(sub));
	json_object_object_add(o, "event_type", et);
}

static const char *event_kind(uint8_t type)
{
	switch (type) {
	case PW_EV_FLOW_NEW:
		return "flow_new";
	case PW_EV_DROP:
		return "flow_denied";
	case PW_EV_SOCK_DENY:
		return "sock_deny";
	case PW_EV_REVOKED:
		return "revoked";
	case PW_EV_AUDIT:
		return "audit";
	default:
		return NULL;
	}
}

static void add_summary(json_object *o, const struct pw_event *ev, uint64_t suppressed)
{
	char buf[160];
	const char *pn = proto_name(ev->proto);
	int n;

	if (ev->proto == IPPROTO_TCP && ev->type != PW_EV_SOCK_DENY) {
		static const char *const names[8] = {"FIN", "SYN", "RST", "PSH",
						     "ACK", "URG", "ECE", "CWR"};
		size_t off = (size_t)snprintf(buf, sizeof(buf), "TCP Flags:");
		bool first = true;

		for (int i = 0; i < 8; i++) {
			if (!(ev->tcp_flags & (1u << i)))
				continue;
			off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s %s",
						first ? "" : ",", names[i]);
			first = false;
		}
		n = (int)off;
	} else if (pn) {
		n = snprintf(buf, sizeof(buf), "%s", pn);
	} else {
		n = snprintf(buf, sizeof(buf), "IP protocol %u", ev->proto);
	}
	if (suppressed && n > 0 && (size_t)n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - n, " (+%llu similar suppressed)",
			 (unsigned long long)suppressed);
	add_lit(o, "Summary", buf);
}

/*
 * The Service a socket call was sent to (its destination is then the backend chosen):
 * Hubble's destination_service, plus the frontend as called.
 */
static void add_service(struct pw_flowlog *fl, json_object *o, uint8_t family,
			const uint32_t front[4], uint16_t port_be, uint8_t proto)
{
	json_object *svc = json_object_new_object();
	char buf[INET6_ADDRSTRLEN + 16], addr[INET6_ADDRSTRLEN], name[512];
	const char *slash;

	addr_str(family, front, addr, sizeof(addr));
	snprintf(buf, sizeof(buf), family == PW_FAMILY_V6 ? "[%s]:%u" : "%s:%u", addr,
		 ntohs(port_be));
	add_lit(svc, "frontend", buf);
	if (fl->have_enr && fl->enr.service &&
	    !fl->enr.service(fl->enr.ctx, family, front, port_be, proto, name, sizeof(name)) &&
	    (slash = strchr(name, '/'))) {
		add_lit(svc, "name", slash + 1);
		json_object_object_add(svc, "namespace",
				       json_object_new_string_len(name, (int)(slash - name)));
	}
	json_object_object_add(o, "destination_service", svc);
}

/* A pod's egress flow to a backend that its connect() reached through a Service frontend. */
static void add_flow_service(struct pw_flowlog *fl, json_object *o, uint32_t ep_id, uint8_t family,
			     uint8_t proto, const uint32_t daddr[4], uint16_t dport_be)
{
	uint32_t front[4];
	uint16_t fport;

	if (ep_id && fl->have_enr && fl->enr.flow_service &&
	    !fl->enr.flow_service(fl->enr.ctx, ep_id, family, proto, daddr, dport_be, front,
				  &fport))
		add_service(fl, o, family, front, fport, proto);
}

static json_object *event_record(struct pw_flowlog *fl, const struct pw_event *ev,
				 uint64_t suppressed)
{
	const char *kind = event_kind(ev->type);
	bool egress = ev->direction == PW_DIR_EGRESS;
	bool sock = ev->type == PW_EV_SOCK_DENY;
	json_object *o = new_record(fl, to_wall(fl, ev->ts_ns), kind);
	static const uint32_t zero[4];
	const uint32_t *saddr;

	if (!o)
		return NULL;
	switch (ev->type) {
	case PW_EV_FLOW_NEW:
		add_lit(o, "verdict", "FORWARDED");
		add_event_type(o, MSG_POLICY_VERDICT, 0);
		break;
	case PW_EV_AUDIT:
		add_lit(o, "verdict", "AUDIT");
		add_event_type(o, MSG_POLICY_VERDICT, 0);
		break;
	default:
		add_lit(o, "verdict", "DROPPED");
		add_lit(o, "drop_reason_desc", pw_flowlog_drop_reason_desc(ev->reason));
		add_event_type(o, MSG_DROP, drop_reason_code(ev->reason));
		break;
	}
	add_lit(o, "reason", pw_reason_str(ev->reason));
	/* a socket record sent to a Service: its source fields hold the frontend, not a source */
	saddr = ev->flags & PW_EV_F_SVC ? zero : ev->saddr;
	add_ip(o, ev->family, saddr, ev->daddr, sock);
	add_l4(o, ev->proto, ev->sport, ev->dport, !sock, ev->tcp_flags);
	/* the subject endpoint is the source of its egress and the destination of its ingress */
	add_endpoint(fl, o, "source", ev->family, saddr, ev->src_identity, egress ? ev->ep_id : 0);
	if (ev->flags & PW_EV_F_SVC)
		add_service(fl, o, ev->family, ev->saddr, ev->sport, ev->proto);
	else if (!sock && egress)
		add_flow_service(fl, o, ev->ep_id, ev->family, ev->proto, ev->daddr, ev->dport);
	add_endpoint(fl, o, "destination", ev->family, ev->daddr, ev->dst_identity,
		     egress ? 0 : ev->ep_id);
	add_lit(o, "Type", sock ? "SOCK" : "L3_L4");
	add_lit(o, "traffic_direction", egress ? "EGRESS" : "INGRESS");
	/* replies pass without a record, so every record is of an original direction */
	if (ev->type != PW_EV_REVOKED)
		json_object_object_add(o, "is_reply", json_object_new_boolean(0));
	if (ev->ifindex) {
		json_object *itf = json_object_new_object();

		json_object_object_add(itf, "index", json_object_new_int64(ev->ifindex));
		json_object_object_add(o, "interface", itf);
	}
	if (ev->type == PW_EV_FLOW_NEW)
		add_cookie_policy(fl, o, egress ? "egress_allowed_by" : "ingress_allowed_by",
				  ev->cookie);
	else if (ev->type == PW_EV_REVOKED)
		/* the rule that had admitted the flow and no longer does */
		add_cookie_policy(fl, o, "previously_allowed_by", ev->cookie);
	else if (ev->cookie)
		add_u64(o, "policy_cookie", ev->cookie);
	/* a revoked flow: the policies isolating the endpoint now, none of which admits it */
	if (ev->reason == PW_DROP_POLICY || ev->reason == PW_OK_AUDIT ||
	    ev->reason == PW_DROP_REVOKED)
		add_isolating(fl, o, ev->ep_id, ev->direction);
	if (ev->reason == PW_DROP_QUARANTINE && fl->have_enr && fl->enr.quarantine_reason) {
		const char *why = fl->enr.quarantine_reason(fl->enr.ctx, ev->ep_id);

		if (why && *why)
			add_lit(o, "quarantine_reason", why);
	}
	if (ev->flags & PW_EV_F_SOCK) {
		json_object *proc = json_object_new_object();

		add_u64(proc, "pid", ev->pid);
		add_str(proc, "comm", ev->comm, sizeof(ev->comm));
		json_object_object_add(o, "process", proc);
		add_u64(o, "cgroup_id", ev->cgroup_id);
	}
	if (ev->pkt_len)
		add_u64(o, "packet_length", ev->pkt_len);
	if (suppressed)
		add_u64(o, "suppressed", suppressed);
	add_summary(o, ev, suppressed);
	return o;
}

/* --- sinks ---------------------------------------------------------------------------------- */

static int write_all(int fd, const struct iovec *iov_in, int cnt)
{
	struct iovec iov[2];
	int i = 0;

	memcpy(iov, iov_in, sizeof(*iov) * cnt);
	while (i < cnt) {
		ssize_t n = writev(fd, iov + i, cnt - i);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (i < cnt && (size_t)n >= iov[i].iov_len) {
			n -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < cnt) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int file_open(struct pw_flowlog *fl)
{
	struct stat st;
	int fd, err;

	fd = open(fl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	fl->fd = fd;
	fl->st.file_bytes = (uint64_t)st.st_size;
	return 0;
}

static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/*
 * path -> path.1 -> ... -> path.keep; what was path.keep is replaced by the rename, so the
 * oldest file goes first. A record is never split: rotation happens between records.
 */
static int file_rotate(struct pw_flowlog *fl)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err = 0;

	if (fl->fsync != PW_FLOWLOG_FSYNC_NONE && fsync(fl->fd))
		logf_(fl, PW_LOG_WARN, "flow log %s: fsync before rotation: %s", fl->path,
		      strerror(errno));
	close(fl->fd);
	fl->fd = -1;
	if (!fl->keep) {
		if (unlink(fl->path) && errno != ENOENT)
			err = -errno;
	} else {
		for (unsigned int i = fl->keep - 1; i >= 1; i--) {
			snprintf(from, sizeof(from), "%s.%u", fl->path, i);
			snprintf(to, sizeof(to), "%s.%u", fl->path, i + 1);
			if (rename(from, to) && errno != ENOENT && !err)
				err = -errno;
		}
		snprintf(to, sizeof(to), "%s.1", fl->path);
		if (rename(fl->path, to) && errno != ENOENT && !err)
			err = -errno;
	}
	if (err)
		logf_(fl, PW_LOG_WARN, "flow log %s: rotation: %s", fl->path, strerror(-err));
	if (fl->fsync != PW_FLOWLOG_FSYNC_NONE)
		sync_dir(fl->path);
	fl->st.rotations++;
	return file_open(fl);
}

static int file_write(struct pw_flowlog *fl, const char *line, size_t len)
{
	struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
	int err;

	if (fl->fd < 0 && !fl->is_stdout) {
		/* a failed rotation or reopen left no file: try again on every record */
		err = file_open(fl);
		if (err)
			return err;
	}
	if (!fl->is_stdout && fl->max_bytes && fl->st.file_bytes &&
	    fl->st.file_bytes + len + 1 > fl->max_bytes) {
		err = file_rotate(fl);
		if (err)
			return err;
	}
	err = write_all(fl->fd, iov, 2);
	if (err)
		return err;
	fl->st.file_bytes += len + 1;
	if (fl->fsync == PW_FLOWLOG_FSYNC_ALWAYS && !fl->is_stdout && fsync(fl->fd))
		return -errno;
	return 0;
}

static void ring_add(struct pw_flowlog *fl, const char *line, size_t len)
{
	size_t idx = (fl->ring_head + fl->ring_len) % fl->ring_cap;
	char *copy = malloc(len + 1);

	if (!copy)
		return; /* the file and subscribers still got it; history is best effort */
	memcpy(copy, line, len + 1);
	if (fl->ring_len == fl->ring_cap) {
		free(fl->ring[fl->ring_head].line);
		fl->ring_head = (fl->ring_head + 1) % fl->ring_cap;
		idx = (fl->ring_head + fl->ring_len - 1) % fl->ring_cap;
	} else {
		fl->ring_len++;
	}
	fl->ring[idx].line = copy;
	fl->ring[idx].len = len;
}

static void subs_dispatch(struct pw_flowlog *fl, const char *line, size_t len, json_object *rec)
{
	size_t i, j;

	fl->dispatching++;
	/* by index: a callback may subscribe (realloc) or unsubscribe */
	for (i = 0; i < fl->n_subs; i++) {
		if (fl->subs[i].fn)
			fl->subs[i].fn(fl->subs[i].ctx, line, len, rec);
	}
	if (--fl->dispatching)
		return;
	for (i = j = 0; i < fl->n_subs; i++) {
		if (fl->subs[i].fn)
			fl->subs[j++] = fl->subs[i];
	}
	fl->n_subs = j;
}

/* Consumes rec. Returns 0, or the file sink's -errno (the ring and subscribers got it). */
static int emit(struct pw_flowlog *fl, json_object *rec)
{
	const char *line;
	size_t len;
	int err = 0;

	if (!rec)
		return -ENOMEM;
	add_u64(rec, "seq", ++fl->seq);
	line = json_object_to_json_string_length(
		rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!line) {
		json_object_put(rec);
		return -ENOMEM;
	}
	if (fl->fd >= 0 || fl->path) {
		err = file_write(fl, line, len);
		if (err) {
			fl->st.write_errors++;
			if (!fl->write_failing)
				logf_(fl, PW_LOG_ERROR,
				      "flow log %s: write failed: %s (records stay in memory; "
				      "failures are counted in write_errors)",
				      fl->is_stdout ? "stdout" : fl->path, strerror(-err));
			fl->write_failing = true;
		} else if (fl->write_failing) {
			logf_(fl, PW_LOG_INFO, "flow log %s: writing again (%llu failed writes)",
			      fl->is_stdout ? "stdout" : fl->path,
			      (unsigned long long)fl->st.write_errors);
			fl->write_failing = false;
		}
	}
	ring_add(fl, line, len);
	subs_dispatch(fl, line, len, rec);
	fl->st.records++;
	json_object_put(rec);
	return err;
}

/* --- rate limit ---------------------------------------------------------------------------- */

static bool rate_limited_type(uint8_t type)
{
	return type == PW_EV_DROP || type == PW_EV_SOCK_DENY || type == PW_EV_REVOKED;
}

static void rl_key_of(const struct pw_event *ev, struct rl_key *k)
{
	memset(k, 0, sizeof(*k));
	k->ep_id = ev->ep_id;
	k->type = ev->type;
	k->family = ev->family;
	k->proto = ev->proto;
	k->direction = ev->direction;
	memcpy(k->saddr, ev->saddr, sizeof(k->saddr));
	memcpy(k->daddr, ev->daddr, sizeof(k->daddr));
	k->dport = ev->dport;
}

static uint64_t rl_hash(const struct rl_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

/* Record the newest pending deny of a slot, carrying the others. Returns emit()'s result. */
static int rl_flush_slot(struct pw_flowlog *fl, struct rl_slot *s)
{
	uint64_t carried = s->pending - 1;

	fl->st.suppressed_pending -= s->pending;
	fl->st.suppressed += carried;
	s->pending = 0;
	return emit(fl, event_record(fl, &s->last, carried));
}

static struct rl_slot *rl_get(struct pw_flowlog *fl, const struct rl_key *k, uint64_t now)
{
	struct rl_slot *set = fl->rl + (rl_hash(k) & (fl->rl_sets - 1)) * PW_FLOWLOG_RL_WAYS;
	struct rl_slot *victim = NULL;

	for (int w = 0; w < PW_FLOWLOG_RL_WAYS; w++) {
		if (set[w].used && !memcmp(&set[w].key, k, sizeof(*k)))
			return &set[w];
	}
	for (int w = 0; w < PW_FLOWLOG_RL_WAYS; w++) {
		if (!set[w].used) {
			victim = &set[w];
			break;
		}
		if (!victim || set[w].last_ns < victim->last_ns)
			victim = &set[w];
	}
	if (victim->used) {
		/* the least recently seen key of the set goes; its count goes out first */
		fl->st.rl_evictions++;
		if (victim->pending)
			rl_flush_slot(fl, victim);
	}
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->key = *k;
	victim->win_start = now;
	victim->last_ns = now;
	return victim;
}

/* 1: record it now carrying *carried suppressed denies; 0: counted into a later record */
static int rl_admit(struct pw_flowlog *fl, int cpu, const struct pw_event *ev, uint64_t *carried)
{
	struct rl_key k;
	struct rl_slot *s;
	uint64_t now = ev->ts_ns;

	*carried = 0;
	rl_key_of(ev, &k);
	s = rl_get(fl, &k, now);
	if (now > s->last_ns)
		s->last_ns = now;
	/* timestamps of different CPUs interleave: an older one belongs to the open window */
	if (now > s->win_start && now - s->win_start >= fl->rl_window) {
		*carried = s->pending;
		fl->st.suppressed_pending -= s->pending;
		fl->st.suppressed += s->pending;
		s->pending = 0;
		s->win_start = now;
		s->emitted = 0;
	}
	if (s->emitted < fl->rl_burst) {
		s->emitted++;
		return 1;
	}
	/*
	 * The per-CPU rings are drained in turns, so denies arrive out of time order: keep the
	 * newest by the kernel's clock, not the last handed in.
	 */
	if (!s->pending || ev->ts_ns >= s->last.ts_ns)
		s->last = *ev;
	s->pending++;
	fl->st.suppressed_pending++;
	return 0;
}

int pw_flowlog_flush(struct pw_flowlog *fl, uint64_t now_ns)
{
	size_t n = fl->rl_sets * PW_FLOWLOG_RL_WAYS;
	int emitted = 0;

	for (size_t i = 0; fl->rl && i < n; i++) {
		struct rl_slot *s = &fl->rl[i];

		if (!s->used || !s->pending)
			continue;
		if (now_ns != UINT64_MAX &&
		    (now_ns < s->win_start || now_ns - s->win_start < fl->rl_window))
			continue;
		rl_flush_slot(fl, s);
		emitted++;
	}
	return emitted;
}

int pw_flowlog_flush_all(struct pw_flowlog *fl)
{
	return pw_flowlog_flush(fl, UINT64_MAX);
}

/* --- inputs --------------------------------------------------------------------------------- */

static bool sampled_out(struct pw_flowlog *fl, uint8_t family, uint8_t proto, const uint32_t s[4],
			const uint32_t d[4], uint16_t sp, uint16_t dp)
{
	if (fl->sample <= 1)
		return false;
	if (pw_flow_hash(family, proto, s, d, sp, dp) % fl->sample == 0)
		return false;
	fl->st.sampled_out++;
	return true;
}

int pw_flowlog_event(struct pw_flowlog *fl, int cpu, const struct pw_event *ev)
{
	uint64_t carried = 0;
	int err;

	fl->st.events++;
	if (!event_kind(ev->type) || (ev->family != PW_FAMILY_V4 && ev->family != PW_FAMILY_V6)) {
		fl->st.bad_events++;
		logf_(fl, PW_LOG_DEBUG, "flow log: skipped event of type %u family %u", ev->type,
		      ev->family);
		return -EINVAL;
	}
	if (ev->type == PW_EV_FLOW_NEW &&
	    sampled_out(fl, ev->family, ev->proto, ev->saddr, ev->daddr, ev->sport, ev->dport))
		return 0;
	if (!fl->rl_disable && rate_limited_type(ev->type) && !rl_admit(fl, cpu, ev, &carried))
		return 0;
	err = emit(fl, event_record(fl, ev, carried));
	return err == -ENOMEM ? err : 1;
}

/*
 * IPFIX flowEndReason (IE 136) value and name, and podwall's own word: IPFIX calls both a
 * flushed and a revoked flow forcedEnd, an auditor needs to tell them apart.
 */
static const char *end_reason_name(enum pw_flow_end_reason why, int *ipfix, const char **end)
{
	switch (why) {
	case PW_END_TIMEOUT:
		*ipfix = 1;
		*end = "timeout";
		return "idleTimeout";
	case PW_END_CLOSED:
		*ipfix = 3;
		*end = "closed";
		return "endOfFlowDetected";
	case PW_END_FLUSHED:
		*ipfix = 4;
		*end = "flushed";
		return "forcedEnd";
	case PW_END_REVOKED:
		*ipfix = 4;
		*end = "revoked";
		return "forcedEnd";
	default:
		*ipfix = 0;
		*end = "unknown";
		return "unknown";
	}
}

int pw_flowlog_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val, enum pw_flow_end_reason why)
{
	static const char *const states[] = {"new", "established", "closing"};
	bool egress = key->scope == PW_DIR_EGRESS, audit = val->flags & PW_CT_F_AUDIT;
	json_object *o, *fe;
	int ipfix, err;
	const char *end, *why_name = end_reason_name(why, &ipfix, &end);

	fl->st.flow_ends++;
	if (key->family != PW_FAMILY_V4 && key->family != PW_FAMILY_V6) {
		fl->st.bad_events++;
		return -EINVAL;
	}
	if (!audit && sampled_out(fl, key->family, key->proto, key->saddr, key->daddr, key->sport,
				  key->dport))
		return 0;
	/* the record's time is when the end was observed; the flow's own times are below */
	o = new_record(fl, to_wall(fl, mono_now()), "flow_end");
	if (!o)
		return -ENOMEM;
	add_lit(o, "verdict", audit ? "AUDIT" : "FORWARDED");
	add_ip(o, key->family, key->saddr, key->daddr, false);
	add_l4(o, key->proto, key->sport, key->dport, true, val->tcp_flags[0] | val->tcp_flags[1]);
	add_endpoint(fl, o, "source", key->family, key->saddr, val->src_identity,
		     egress ? key->ep_id : 0);
	add_endpoint(fl, o, "destination", key->family, key->daddr, val->dst_identity,
		     egress ? 0 : key->ep_id);
	if (egress)
		add_flow_service(fl, o, key->ep_id, key->family, key->proto, key->daddr,
				 key->dport);
	add_lit(o, "Type", "L3_L4");
	add_lit(o, "traffic_direction", egress ? "EGRESS" : "INGRESS");
	add_cookie_policy(fl, o, egress ? "egress_allowed_by" : "ingress_allowed_by", val->cookie);

	fe = json_object_new_object();
	json_object_object_add(fe, "flowStartMilliseconds",
			       json_object_new_int64(to_wall(fl, val->created_ns) / NSEC_PER_MSEC));
	json_object_object_add(
		fe, "flowEndMilliseconds",
		json_object_new_int64(to_wall(fl, val->last_seen_ns) / NSEC_PER_MSEC));
	add_u64(fe, "initiatorPackets", val->packets[0]);
	add_u64(fe, "responderPackets", val->packets[1]);
	add_u64(fe, "initiatorOctets", val->bytes[0]);
	add_u64(fe, "responderOctets", val->bytes[1]);
	if (key->proto == IPPROTO_TCP) {
		json_object_object_add(fe, "tcpControlBits",
				       json_object_new_int(val->tcp_flags[0]));
		json_object_object_add(fe, "reverseTcpControlBits",
				       json_object_new_int(val->tcp_flags[1]));
	}
	json_object_object_add(fe, "flowEndReason", json_object_new_int(ipfix));
	add_lit(fe, "flowEndReasonName", why_name);
	add_lit(fe, "end", end);
	add_lit(fe, "state", val->state < 3 ? states[val->state] : "unknown");
	if (val->flags & PW_CT_F_MIDSTREAM)
		json_object_object_add(fe, "midstream", json_object_new_boolean(1));
	json_object_object_add(o, "flow_end", fe);
	err = emit(fl, o);
	return err == -ENOMEM ? err : 1;
}

/* A loss record: cpu < 0 when the loss belongs to no one ring (events nobody was reading). */
static int lost_record(struct pw_flowlog *fl, int cpu, uint64_t lost, const char *reason,
		       const char *summary)
{
	json_object *o;
	int err;

	fl->st.lost += lost;
	fl->st.lost_reports++;
	o = new_record(fl, to_wall(fl, mono_now()), "lost");
	if (!o)
		return -ENOMEM;
	add_u64(o, "lost", lost);
	if (cpu >= 0)
		json_object_object_add(o, "cpu", json_object_new_int(cpu));
	add_u64(o, "lost_total", fl->st.lost);
	add_lit(o, "lost_reason", reason);
	add_lit(o, "Summary", summary);
	err = emit(fl, o);
	return err == -ENOMEM ? err : 1;
}

int pw_flowlog_lost(struct pw_flowlog *fl, int cpu, uint64_t lost)
{
	return lost_record(fl, cpu, lost, "ring-full", "perf ring buffer overflow: samples lost");
}

int pw_flowlog_lost_flow_ends(struct pw_flowlog *fl, uint64_t lost)
{
	return lost_record(fl, -1, lost, "flow-end-not-kept",
			   "flow ends not recorded: a port pair ended too often between two "
			   "conntrack sweeps");
}

int pw_flowlog_lost_unread(struct pw_flowlog *fl, uint64_t lost)
{
	return lost_record(fl, -1, lost, "no-reader",
			   "events emitted while no reader was attached (daemon not running)");
}

void pw_flowlog_on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	pw_flowlog_event(ctx, cpu, ev);
}

void pw_flowlog_on_flow_end(void *ctx, const struct pw_ct_key *key, const struct pw_ct_entry *val,
			    enum pw_flow_end_reason why)
{
	pw_flowlog_flow_end(ctx, key, val, why);
}

void pw_flowlog_on_lost(void *ctx, int cpu, uint64_t lost)
{
	pw_flowlog_lost(ctx, cpu, lost);
}

/* --- lifecycle ------------------------------------------------------------------------------ */

int pw_flowlog_new(const struct pw_flowlog_opts *opts, struct pw_flowlog **out)
{
	struct pw_flowlog_opts o = {0};
	struct pw_flowlog *fl;
	size_t slots;
	int err = 0;

	*out = NULL;
	if (!opts || opts->sz < sizeof(opts->sz))
		return -EINVAL;
	/* a caller built against a newer, larger struct: what we don't know must be unset */
	for (size_t i = sizeof(o); i < opts->sz; i++) {
		if (((const char *)opts)[i])
			return -EINVAL;
	}
	memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	if (o.fsync > PW_FLOWLOG_FSYNC_ALWAYS)
		return -EINVAL;
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return -ENOMEM;
	fl->fd = -1;
	fl->max_bytes = o.max_bytes;
	fl->keep = o.keep;
	fl->fsync = o.fsync;
	fl->log = o.log;
	fl->log_ctx = o.log_ctx;
	fl->sample = o.sample_allowed;
	fl->rl_window = o.rl_window_ns ? o.rl_window_ns : PW_FLOWLOG_RL_WINDOW_DEFAULT;
	fl->rl_burst = o.rl_burst ? o.rl_burst : 1;
	fl->rl_disable = o.rl_disable;
	fl->next_sub_id = 1;
	if (o.enricher) {
		fl->enr = *o.enricher;
		fl->have_enr = true;
	}
	fl->offset_fixed = o.clock_offset_set;
	fl->offset = o.clock_offset_set ? o.clock_offset_ns : measure_offset();

	fl->ring_cap = o.ring_size ? o.ring_size : PW_FLOWLOG_RING_DEFAULT;
	fl->ring = calloc(fl->ring_cap, sizeof(*fl->ring));
	slots = o.rl_slots ? o.rl_slots : PW_FLOWLOG_RL_SLOTS_DEFAULT;
	if (slots < PW_FLOWLOG_RL_WAYS)
		slots = PW_FLOWLOG_RL_WAYS;
	fl->rl_sets = 1;
	while (fl->rl_sets * PW_FLOWLOG_RL_WAYS < slots)
		fl->rl_sets <<= 1;
	fl->rl = calloc(fl->rl_sets * PW_FLOWLOG_RL_WAYS, sizeof(*fl->rl));
	if (!fl->ring || !fl->rl || (o.node_name && !(fl->node_name = strdup(o.node_name)))) {
		err = -ENOMEM;
		goto out;
	}
	if (o.path && !strcmp(o.path, "-")) {
		fl->fd = STDOUT_FILENO;
		fl->is_stdout = true;
	} else if (o.path) {
		fl->path = strdup(o.path);
		if (!fl->path) {
			err = -ENOMEM;
			goto out;
		}
		err = file_open(fl);
		if (err) {
			logf_(fl, PW_LOG_ERROR, "flow log %s: %s", o.path, strerror(-err));
			goto out;
		}
	}
	*out = fl;
	fl = NULL;
out:
	if (fl) {
		free(fl->path);
		free(fl->node_name);
		free(fl->ring);
		free(fl->rl);
		free(fl);
	}
	return err;
}

void pw_flowlog_free(struct pw_flowlog *fl)
{
	if (!fl)
		return;
	/* suppressed counts are never dropped: shutdown records them */
	pw_flowlog_flush_all(fl);
	if (fl->fd >= 0 && !fl->is_stdout) {
		if (fl->fsync != PW_FLOWLOG_FSYNC_NONE)
			fsync(fl->fd);
		close(fl->fd);
	}
	for (size_t i = 0; i < fl->ring_len; i++)
		free(fl->ring[(fl->ring_head + i) % fl->ring_cap].line);
	free(fl->ring);
	free(fl->rl);
	free(fl->subs);
	free(fl->path);
	free(fl->node_name);
	free(fl);
}

int pw_flowlog_sync(struct pw_flowlog *fl)
{
	if (fl->fd < 0 || fl->is_stdout)
		return 0;
	return fsync(fl->fd) ? -errno : 0;
}

int pw_flowlog_reopen(struct pw_flowlog *fl)
{
	if (!fl->path)
		return 0;
	if (fl->fd >= 0) {
		if (fl->fsync != PW_FLOWLOG_FSYNC_NONE)
			fsync(fl->fd);
		close(fl->fd);
		fl->fd = -1;
	}
	return file_open(fl);
}

/* --- live stream, history, stats ------------------------------------------------------------- */

int pw_flowlog_subscribe(struct pw_flowlog *fl, pw_flowlog_sub_fn fn, void *ctx)
{
	if (!fn)
		return -EINVAL;
	if (fl->n_subs == fl->cap_subs) {
		size_t cap = fl->cap_subs ? 2 * fl->cap_subs : 8;
		struct sub *s = realloc(fl->subs, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		fl->subs = s;
		fl->cap_subs = cap;
	}
	if (fl->next_sub_id == INT_MAX)
		fl->next_sub_id = 1;
	fl->subs[fl->n_subs] = (struct sub){.id = fl->next_sub_id++, .fn = fn, .ctx = ctx};
	return fl->subs[fl->n_subs++].id;
}

int pw_flowlog_unsubscribe(struct pw_flowlog *fl, int id)
{
	for (size_t i = 0; i < fl->n_subs; i++) {
		if (fl->subs[i].id != id || !fl->subs[i].fn)
			continue;
		if (fl->dispatching) {
			fl->subs[i].fn = NULL; /* reaped when the dispatch ends */
		} else {
			memmove(&fl->subs[i], &fl->subs[i + 1],
				(fl->n_subs - i - 1) * sizeof(*fl->subs));
			fl->n_subs--;
		}
		return 0;
	}
	return -ENOENT;
}

int pw_flowlog_ring_foreach(const struct pw_flowlog *fl, pw_flowlog_ring_fn fn, void *ctx)
{
	for (size_t i = 0; i < fl->ring_len; i++) {
		const struct ring_rec *r = &fl->ring[(fl->ring_head + i) % fl->ring_cap];
		int ret = fn(ctx, r->line, r->len);

		if (ret)
			return ret;
	}
	return 0;
}

json_object *pw_flowlog_recent(const struct pw_flowlog *fl, pw_flow_match_fn match,
			       const void *match_ctx, size_t limit)
{
	json_object *arr = json_object_new_array();
	json_object **keep = calloc(fl->ring_len ? fl->ring_len : 1, sizeof(*keep));
	size_t i = fl->ring_len, n = 0;

	if (!arr || !keep) {
		json_object_put(arr);
		free(keep);
		return NULL;
	}
	/* newest first until `limit` matched, then handed out oldest first */
	while (i-- > 0 && (!limit || n < limit)) {
		const struct ring_rec *r = &fl->ring[(fl->ring_head + i) % fl->ring_cap];
		json_object *rec = json_tokener_parse(r->line);

		if (!rec)
			continue;
		if (match && !match(match_ctx, rec)) {
			json_object_put(rec);
			continue;
		}
		keep[n++] = rec;
	}
	while (n-- > 0)
		json_object_array_add(arr, keep[n]);
	free(keep);
	return arr;
}

void pw_flowlog_get_stats(const struct pw_flowlog *fl, struct pw_flowlog_stats *out)
{
	*out = fl->st;
}

uint64_t pw_flowlog_lost_total(const struct pw_flowlog *fl)
{
	return fl->st.lost;
}

json_object *pw_flowlog_stats_json(const struct pw_flowlog *fl)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	add_u64(o, "events", fl->st.events);
	add_u64(o, "flow_ends", fl->st.flow_ends);
	add_u64(o, "records", fl->st.records);
	add_u64(o, "suppressed", fl->st.suppressed);
	add_u64(o, "suppressed_pending", fl->st.suppressed_pending);
	add_u64(o, "sampled_out", fl->st.sampled_out);
	add_u64(o, "lost", fl->st.lost);
	add_u64(o, "lost_reports", fl->st.lost_reports);
	add_u64(o, "rl_evictions", fl->st.rl_evictions);
	add_u64(o, "bad_events", fl->st.bad_events);
	add_u64(o, "write_errors", fl->st.write_errors);
	add_u64(o, "rotations", fl->st.rotations);
	add_u64(o, "file_bytes", fl->st.file_bytes);
	return o;
}
