// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Flow logs: every record kind against its expected JSON (parsed back with json-c), escaping
 * of hostile strings, filters, file rotation, deny rate limiting with exact suppressed
 * counts, sampling, loss accounting, the ring, subscribers and the table. No kernel needed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "flowfilter.h"
#include "flowlog.h"

#define SEC 1000000000ull
/* 2023-11-14T22:13:20Z: a fixed monotonic -> wall offset makes every time predictable */
#define OFFSET_NS (1700000000ll * 1000000000ll)
#define MAX_CAP	  4096

/* --- the daemon's side, as a test double ------------------------------------------------- */

struct tpod {
	const char *addr, *ns, *name, *cidr;
	const char *const *labels;
	size_t n_labels;
	uint32_t ep_id, identity;
};

static const char *const web_labels[] = {"app=web", "tier=front"};
static const char *const pg_labels[] = {"app=pg"};
/* hostile strings an attacker controls through pod labels */
static const char *const evil_labels[] = {"app=\"quoted\"\\back", "note=line\nbreak\x01",
					  "bad=\xff\xfe utf8 \xc3", "ok=caf\xc3\xa9"};

static const struct tpod pods[] = {
	{"198.18.0.10", "shop", "web-5d8f", NULL, web_labels, 2, 7, 300},
	{"198.18.0.20", "db", "pg-0", NULL, pg_labels, 1, 8, 301},
	{"fd00::20", "db", "pg-0", NULL, pg_labels, 1, 8, 301},
	{"198.18.0.30", "evil", "x", NULL, evil_labels, 4, 9, 302},
	{"198.19.255.1", NULL, NULL, "198.19.255.0/24", NULL, 0, 0, 0},
	{"169.254.169.254", NULL, NULL, "169.254.169.254/32", NULL, 0, 0, 0},
};

struct tenr {
	int endpoint_calls, policy_calls, isolating_calls;
};

static int t_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
		      uint32_t ep_id, struct pw_flow_endpoint *out)
{
	struct tenr *e = ctx;
	char buf[64];

	e->endpoint_calls++;
	inet_ntop(family == PW_FAMILY_V6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		/* a socket deny has no source address: the endpoint id names the pod */
		if (strcmp(pods[i].addr, buf) && !(ep_id && ep_id == pods[i].ep_id))
			continue;
		out->ns = pods[i].ns;
		out->pod_name = pods[i].name;
		out->labels = pods[i].labels;
		out->n_labels = pods[i].n_labels;
		out->ep_id = pods[i].ep_id;
		out->identity = pods[i].identity;
		out->cidr = pods[i].cidr;
		return 0;
	}
	return -ENOENT;
}

static int t_policy(void *ctx, uint32_t cookie, struct pw_flow_policy *out)
{
	struct tenr *e = ctx;

	e->policy_calls++;
	if (cookie == 42) {
		*out = (struct pw_flow_policy){.ns = "shop",
					       .name = "allow-web-egress",
					       .rule = 1,
					       .direction = PW_DIR_EGRESS};
		return 0;
	}
	if (cookie == 43) {
		*out = (struct pw_flow_policy){
			.ns = "db", .name = "allow-web", .rule = 0, .direction = PW_DIR_INGRESS};
		return 0;
	}
	return -ENOENT;
}

static int t_isolating(void *ctx, uint32_t ep_id, uint8_t dir, struct pw_flow_policy *out,
		       size_t max)
{
	struct tenr *e = ctx;

	e->isolating_calls++;
	if (ep_id == 8 && dir == PW_DIR_INGRESS && max >= 2) {
		out[0] = (struct pw_flow_policy){
			.ns = "db", .name = "default-deny", .rule = -1, .direction = dir};
		out[1] = (struct pw_flow_policy){
			.ns = "db", .name = "allow-web", .rule = 0, .direction = dir};
		return 2;
	}
	if (ep_id == 7 && dir == PW_DIR_EGRESS && max >= 1) {
		out[0] = (struct pw_flow_policy){
			.ns = "shop", .name = "allow-web-egress", .rule = -1, .direction = dir};
		return 1;
	}
	return 0;
}

/* --- capture ------------------------------------------------------------------------------- */

struct cap {
	size_t n;
	json_object *rec[MAX_CAP];
	char *line[MAX_CAP];
};

static void cap_fn(void *ctx, const char *line, size_t len)
{
	struct cap *c = ctx;

	assert_true(c->n < MAX_CAP);
	assert_int_equal(strlen(line), len);
	c->line[c->n] = strdup(line);
	/* the record as a consumer of the line sees it, not the in-memory object */
	c->rec[c->n] = json_tokener_parse(line);
	assert_non_null(c->rec[c->n]);
	c->n++;
}

static void cap_reset(struct cap *c)
{
	for (size_t i = 0; i < c->n; i++) {
		json_object_put(c->rec[i]);
		free(c->line[i]);
	}
	c->n = 0;
}

struct fx {
	struct pw_flowlog *fl;
	struct cap cap;
	struct tenr enr;
	struct pw_flow_enricher enricher;
};

static void fx_open(struct fx *f, struct pw_flowlog_opts *o, bool with_enricher)
{
	memset(f, 0, sizeof(*f));
	f->enricher = (struct pw_flow_enricher){.ctx = &f->enr,
						.endpoint = t_endpoint,
						.policy = t_policy,
						.isolating = t_isolating};
	o->sz = sizeof(*o);
	o->clock_offset_set = true;
	o->clock_offset_ns = OFFSET_NS;
	if (with_enricher)
		o->enricher = &f->enricher;
	assert_int_equal(pw_flowlog_new(o, &f->fl), 0);
	assert_true(pw_flowlog_subscribe(f->fl, cap_fn, &f->cap) > 0);
}

static void fx_close(struct fx *f)
{
	pw_flowlog_free(f->fl);
	f->fl = NULL;
	cap_reset(&f->cap);
}

/* --- JSON access --------------------------------------------------------------------------- */

/* Walk "a.b.0.c" (array indices as numbers); NULL when absent. */
static json_object *jpath(json_object *o, const char *path)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); o && tok; tok = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			size_t i = strtoul(tok, NULL, 10);

			o = i < json_object_array_length(o) ? json_object_array_get_idx(o, i)
							    : NULL;
		} else if (!json_object_object_get_ex(o, tok, &o)) {
			return NULL;
		}
	}
	return o;
}

static const char *jstr(json_object *o, const char *path)
{
	json_object *v = jpath(o, path);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *path)
{
	json_object *v = jpath(o, path);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static bool jbool(json_object *o, const char *path)
{
	json_object *v = jpath(o, path);

	assert_non_null(v);
	assert_true(json_object_is_type(v, json_type_boolean));
	return json_object_get_boolean(v);
}

#define assert_jstr(o, path, want) assert_string_equal(jstr(o, path), want)
#define assert_absent(o, path)	   assert_null(jpath(o, path))

/* --- events ---------------------------------------------------------------------------------- */

static void addr_of(const char *s, uint8_t *family, uint32_t a[4])
{
	memset(a, 0, 16);
	if (strchr(s, ':')) {
		*family = PW_FAMILY_V6;
		assert_int_equal(inet_pton(AF_INET6, s, a), 1);
	} else {
		*family = PW_FAMILY_V4;
		assert_int_equal(inet_pton(AF_INET, s, a), 1);
	}
}

static struct pw_event ev_make(uint8_t type, uint8_t reason, uint8_t dir, uint8_t proto,
			       const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct pw_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.reason = reason;
	ev.direction = dir;
	ev.proto = proto;
	if (src)
		addr_of(src, &ev.family, ev.saddr);
	addr_of(dst, &ev.family, ev.daddr);
	ev.sport = htons(sport);
	ev.dport = htons(dport);
	ev.ts_ns = 123456789;
	return ev;
}

/* --- record kinds ----------------------------------------------------------------------------- */

static void test_flow_new(void **state)
{
	struct pw_flowlog_opts o = {.node_name = "node-a"};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_FLOW_NEW, PW_OK_POLICY, PW_DIR_EGRESS, IPPROTO_TCP,
				     "198.18.0.10", 40000, "198.18.0.20", 5432);
	json_object *r;

	ev.tcp_flags = 0x02; /* SYN */
	ev.ep_id = 7;
	ev.src_identity = 300;
	ev.dst_identity = 301;
	ev.cookie = 42;
	ev.ifindex = 12;
	ev.pkt_len = 60;
	fx_open(&f, &o, true);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	assert_int_equal(f.cap.n, 1);
	r = f.cap.rec[0];
	assert_jstr(r, "time", "2023-11-14T22:13:20.123456789Z");
	assert_jstr(r, "kind", "flow_new");
	assert_jstr(r, "node_name", "node-a");
	assert_jstr(r, "verdict", "FORWARDED");
	assert_absent(r, "drop_reason_desc");
	assert_jstr(r, "reason", "allowed-by-policy");
	assert_jstr(r, "IP.source", "198.18.0.10");
	assert_jstr(r, "IP.destination", "198.18.0.20");
	assert_jstr(r, "IP.ipVersion", "IPv4");
	assert_int_equal(jint(r, "l4.TCP.source_port"), 40000);
	assert_int_equal(jint(r, "l4.TCP.destination_port"), 5432);
	assert_true(jbool(r, "l4.TCP.flags.SYN"));
	assert_absent(r, "l4.TCP.flags.ACK");
	assert_int_equal(jint(r, "ip_protocol"), IPPROTO_TCP);
	assert_int_equal(jint(r, "source.ID"), 7);
	assert_int_equal(jint(r, "source.identity"), 300);
	assert_jstr(r, "source.namespace", "shop");
	assert_jstr(r, "source.pod_name", "web-5d8f");
	assert_jstr(r, "source.labels.0", "app=web");
	assert_jstr(r, "source.labels.1", "tier=front");
	assert_jstr(r, "destination.namespace", "db");
	assert_jstr(r, "destination.pod_name", "pg-0");
	assert_int_equal(jint(r, "destination.identity"), 301);
	assert_jstr(r, "Type", "L3_L4");
	assert_jstr(r, "traffic_direction", "EGRESS");
	assert_false(jbool(r, "is_reply"));
	assert_int_equal(jint(r, "interface.index"), 12);
	assert_int_equal(jint(r, "event_type.type"), 5);
	assert_int_equal(jint(r, "policy_cookie"), 42);
	assert_jstr(r, "egress_allowed_by.0.name", "allow-web-egress");
	assert_jstr(r, "egress_allowed_by.0.namespace", "shop");
	assert_jstr(r, "egress_allowed_by.0.kind", "NetworkPolicy");
	assert_int_equal(jint(r, "egress_allowed_by.0.rule"), 1);
	assert_absent(r, "ingress_allowed_by");
	assert_absent(r, "isolated_by");
	assert_absent(r, "suppressed");
	assert_absent(r, "process");
	assert_int_equal(jint(r, "packet_length"), 60);
	assert_int_equal(jint(r, "seq"), 1);
	assert_jstr(r, "Summary", "TCP Flags: SYN");
	/* one line, no raw newline inside */
	assert_null(strchr(f.cap.line[0], '\n'));
	fx_close(&f);
}

static void test_flow_denied(void **state)
{
	struct pw_flowlog_opts o = {0};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_DROP, PW_DROP_POLICY, PW_DIR_INGRESS, IPPROTO_TCP,
				     "198.18.0.10", 40001, "198.18.0.20", 22);
	json_object *r;

	ev.tcp_flags = 0x02;
	ev.ep_id = 8;
	ev.src_identity = 300;
	ev.dst_identity = 301;
	fx_open(&f, &o, true);
	assert_int_equal(pw_flowlog_event(f.fl, 1, &ev), 1);
	r = f.cap.rec[0];
	assert_jstr(r, "kind", "flow_denied");
	assert_jstr(r, "verdict", "DROPPED");
	assert_jstr(r, "drop_reason_desc", "POLICY_DENIED");
	assert_jstr(r, "reason", "policy-denied");
	assert_int_equal(jint(r, "event_type.type"), 1);
	assert_int_equal(jint(r, "event_type.sub_type"), 133);
	assert_jstr(r, "traffic_direction", "INGRESS");
	/* the subject of an ingress decision is the destination */
	assert_int_equal(jint(r, "destination.ID"), 8);
	assert_jstr(r, "isolated_by.0.name", "default-deny");
	assert_absent(r, "isolated_by.0.rule");
	assert_jstr(r, "isolated_by.1.name", "allow-web");
	assert_jstr(r, "isolated_by.1.direction", "ingress");
	assert_absent(r, "ingress_allowed_by");
	assert_absent(r, "absent_key");
	assert_absent(r, "node_name");

	/* other drop reasons map to Hubble's names */
	ev = ev_make(PW_EV_DROP, PW_DROP_SPOOFED, PW_DIR_EGRESS, IPPROTO_UDP, "198.18.9.9", 53,
		     "198.18.0.20", 53);
	ev.ep_id = 7;
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	r = f.cap.rec[1];
	assert_jstr(r, "drop_reason_desc", "INVALID_SOURCE_IP");
	assert_int_equal(jint(r, "event_type.sub_type"), 132);
	assert_int_equal(jint(r, "l4.UDP.destination_port"), 53);
	assert_absent(r, "isolated_by"); /* not a policy decision */
	assert_jstr(r, "Summary", "UDP");

	ev.reason = PW_DROP_MALFORMED;
	ev.dport = htons(54);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	assert_jstr(f.cap.rec[2], "drop_reason_desc", "CT_TRUNCATED_OR_INVALID_HEADER");
	assert_jstr(f.cap.rec[2], "reason", "malformed");
	fx_close(&f);
}

static void test_sock_deny(void **state)
{
	struct pw_flowlog_opts o = {0};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_SOCK_DENY, PW_DROP_POLICY, PW_DIR_EGRESS, IPPROTO_TCP,
				     NULL, 0, "198.18.0.20", 5432);
	json_object *r;

	ev.flags = PW_EV_F_SOCK;
	ev.ep_id = 7;
	ev.src_identity = 300;
	ev.dst_identity = 301;
	ev.pid = 4242;
	ev.cgroup_id = 0x123456789abcull;
	memcpy(ev.comm, "curl", 5);
	fx_open(&f, &o, true);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	r = f.cap.rec[0];
	assert_jstr(r, "kind", "sock_deny");
	assert_jstr(r, "verdict", "DROPPED");
	assert_jstr(r, "Type", "SOCK");
	assert_int_equal(jint(r, "process.pid"), 4242);
	assert_jstr(r, "process.comm", "curl");
	assert_int_equal(jint(r, "cgroup_id"), 0x123456789abcll);
	/* no source address or port yet at connect(); the pod is named by its endpoint */
	assert_absent(r, "IP.source");
	assert_jstr(r, "IP.destination", "198.18.0.20");
	assert_absent(r, "l4.TCP.source_port");
	assert_absent(r, "l4.TCP.flags");
	assert_int_equal(jint(r, "l4.TCP.destination_port"), 5432);
	assert_jstr(r, "source.pod_name", "web-5d8f");
	assert_jstr(r, "isolated_by.0.name", "allow-web-egress");
	assert_jstr(r, "Summary", "TCP");
	fx_close(&f);
}

static void test_revoked_and_audit(void **state)
{
	struct pw_flowlog_opts o = {0};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_REVOKED, PW_DROP_REVOKED, PW_DIR_EGRESS, IPPROTO_TCP,
				     "198.18.0.10", 40002, "198.18.0.20", 5432);
	json_object *r;

	ev.ep_id = 7;
	ev.cookie = 42;
	ev.tcp_flags = 0x10;
	fx_open(&f, &o, true);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	r = f.cap.rec[0];
	assert_jstr(r, "kind", "revoked");
	assert_jstr(r, "verdict", "DROPPED");
	assert_jstr(r, "reason", "revoked");
	assert_jstr(r, "drop_reason_desc", "POLICY_DENIED");
	assert_jstr(r, "previously_allowed_by.0.name", "allow-web-egress");
	assert_absent(r, "egress_allowed_by");
	assert_true(jbool(r, "l4.TCP.flags.ACK"));

	ev = ev_make(PW_EV_AUDIT, PW_OK_AUDIT, PW_DIR_INGRESS, IPPROTO_UDP, "198.19.255.1", 9999,
		     "198.18.0.20", 53);
	ev.ep_id = 8;
	ev.src_identity = PW_ID_WORLD;
	ev.dst_identity = 301;
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	r = f.cap.rec[1];
	assert_jstr(r, "kind", "audit");
	assert_jstr(r, "verdict", "AUDIT");
	assert_absent(r, "drop_reason_desc");
	assert_jstr(r, "reason", "audit-would-drop");
	assert_jstr(r, "isolated_by.0.name", "default-deny");
	/* the world end: its CIDR, Cilium-style labels, no namespace */
	assert_jstr(r, "source.cidr", "198.19.255.0/24");
	assert_jstr(r, "source.labels.0", "cidr:198.19.255.0/24");
	assert_jstr(r, "source.labels.1", "reserved:world");
	assert_int_equal(jint(r, "source.identity"), PW_ID_WORLD);
	assert_absent(r, "source.namespace");
	fx_close(&f);
}

static void test_flow_end(void **state)
{
	static const struct {
		enum pw_flow_end_reason why;
		int ipfix;
		const char *name, *end;
	} ends[] = {
		{PW_END_TIMEOUT, 1, "idleTimeout", "timeout"},
		{PW_END_CLOSED, 3, "endOfFlowDetected", "closed"},
		{PW_END_REVOKED, 4, "forcedEnd", "revoked"},
		{PW_END_FLUSHED, 4, "forcedEnd", "flushed"},
	};
	struct pw_flowlog_opts o = {0};
	struct fx f;
	struct pw_ct_key k = {.ep_id = 7, .scope = PW_DIR_EGRESS, .proto = IPPROTO_TCP};
	struct pw_ct_entry v = {
		.created_ns = 2 * SEC + 5000000, /* +5 ms */
		.last_seen_ns = 9 * SEC + 250000000,
		.packets = {10, 8},
		.bytes = {1500, 90000},
		.cookie = 42,
		.src_identity = 300,
		.dst_identity = 301,
		.tcp_flags = {0x1b, 0x13}, /* FIN SYN PSH ACK / FIN SYN ACK */
		.state = PW_CT_CLOSING,
	};
	json_object *r;

	addr_of("198.18.0.10", &k.family, k.saddr);
	addr_of("198.18.0.20", &k.family, k.daddr);
	k.sport = htons(40000);
	k.dport = htons(5432);
	fx_open(&f, &o, true);
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		assert_int_equal(pw_flowlog_flow_end(f.fl, &k, &v, ends[i].why), 1);
		r = f.cap.rec[i];
		assert_jstr(r, "kind", "flow_end");
		assert_jstr(r, "verdict", "FORWARDED");
		assert_int_equal(jint(r, "flow_end.flowEndReason"), ends[i].ipfix);
		assert_jstr(r, "flow_end.flowEndReasonName", ends[i].name);
		assert_jstr(r, "flow_end.end", ends[i].end);
	}
	assert_int_equal(jint(r, "flow_end.flowStartMilliseconds"), 1700000002005ll);
	assert_int_equal(jint(r, "flow_end.flowEndMilliseconds"), 1700000009250ll);
	assert_int_equal(jint(r, "flow_end.initiatorPackets"), 10);
	assert_int_equal(jint(r, "flow_end.responderPackets"), 8);
	assert_int_equal(jint(r, "flow_end.initiatorOctets"), 1500);
	assert_int_equal(jint(r, "flow_end.responderOctets"), 90000);
	assert_int_equal(jint(r, "flow_end.tcpControlBits"), 0x1b);
	assert_int_equal(jint(r, "flow_end.reverseTcpControlBits"), 0x13);
	assert_jstr(r, "flow_end.state", "closing");
	assert_absent(r, "flow_end.midstream");
	/* the union of both directions' flags, Hubble style */
	assert_true(jbool(r, "l4.TCP.flags.FIN"));
	assert_true(jbool(r, "l4.TCP.flags.PSH"));
	assert_absent(r, "l4.TCP.flags.RST");
	assert_jstr(r, "egress_allowed_by.0.name", "allow-web-egress");
	assert_jstr(r, "source.pod_name", "web-5d8f");
	assert_jstr(r, "traffic_direction", "EGRESS");

	assert_absent(r, "audit");

	/*
	 * an audit-admitted, mid-stream flow: its AUDIT verdict was its audit record's, recorded
	 * once; the end is FORWARDED and marked
	 */
	v.flags = PW_CT_F_AUDIT | PW_CT_F_MIDSTREAM;
	v.state = PW_CT_ESTABLISHED;
	assert_int_equal(pw_flowlog_flow_end(f.fl, &k, &v, PW_END_TIMEOUT), 1);
	r = f.cap.rec[4];
	assert_jstr(r, "verdict", "FORWARDED");
	assert_true(jbool(r, "audit"));
	assert_true(jbool(r, "flow_end.midstream"));
	assert_jstr(r, "flow_end.state", "established");
	fx_close(&f);
}

static void test_lost(void **state)
{
	struct pw_flowlog_opts o = {.node_name = "n1"};
	struct pw_flowlog_stats st;
	struct fx f;
	json_object *r, *stats;

	fx_open(&f, &o, false);
	assert_int_equal(pw_flowlog_lost(f.fl, 1, 5), 1);
	assert_int_equal(pw_flowlog_lost(f.fl, 0, 3), 1);
	pw_flowlog_on_lost(f.fl, 1, 0x100000000ull); /* beyond 32 bits */
	assert_int_equal(f.cap.n, 3);
	r = f.cap.rec[0];
	assert_jstr(r, "kind", "lost");
	assert_int_equal(jint(r, "lost"), 5);
	assert_int_equal(jint(r, "cpu"), 1);
	assert_int_equal(jint(r, "lost_total"), 5);
	assert_jstr(r, "node_name", "n1");
	assert_int_equal(jint(f.cap.rec[1], "cpu"), 0);
	assert_int_equal(jint(f.cap.rec[1], "lost_total"), 8);
	assert_int_equal(jint(f.cap.rec[2], "lost"), 0x100000000ll);
	assert_int_equal(jint(f.cap.rec[2], "lost_total"), 0x100000008ll);
	assert_jstr(r, "lost_reason", "ring-full");
	/* events nobody read (the daemon was down): no cpu, their own reason, same total */
	assert_int_equal(pw_flowlog_lost_unread(f.fl, 7), 1);
	assert_int_equal(f.cap.n, 4);
	r = f.cap.rec[3];
	assert_jstr(r, "kind", "lost");
	assert_jstr(r, "lost_reason", "no-reader");
	assert_int_equal(jint(r, "lost"), 7);
	assert_null(jpath(r, "cpu"));
	assert_int_equal(jint(r, "lost_total"), 0x10000000fll);
	assert_true(pw_flowlog_lost_total(f.fl) == 0x10000000full);
	pw_flowlog_get_stats(f.fl, &st);
	assert_true(st.lost == 0x10000000full);
	assert_int_equal(st.lost_reports, 4);
	assert_int_equal(st.records, 4);
	stats = pw_flowlog_stats_json(f.fl);
	assert_int_equal(jint(stats, "lost"), 0x10000000fll);
	assert_int_equal(jint(stats, "records"), 4);
	json_object_put(stats);
	fx_close(&f);
}

static void test_no_enricher_v6_icmp(void **state)
{
	struct pw_flowlog_opts o = {0};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_FLOW_NEW, PW_OK_NOT_ISOLATED, PW_DIR_INGRESS,
				     IPPROTO_ICMPV6, "fd00::1", 77, "fd00::20", 77);
	json_object *r;

	ev.ep_id = 8;
	ev.src_identity = PW_ID_HOST;
	ev.dst_identity = 301;
	ev.cookie = 43;
	fx_open(&f, &o, false);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	r = f.cap.rec[0];
	assert_jstr(r, "IP.source", "fd00::1");
	assert_jstr(r, "IP.destination", "fd00::20");
	assert_jstr(r, "IP.ipVersion", "IPv6");
	assert_int_equal(jint(r, "l4.ICMPv6.echo_id"), 77);
	assert_int_equal(jint(r, "source.identity"), PW_ID_HOST);
	assert_jstr(r, "source.labels.0", "reserved:host");
	assert_int_equal(jint(r, "destination.identity"), 301);
	assert_int_equal(jint(r, "destination.ID"), 8);
	assert_absent(r, "destination.namespace");
	assert_absent(r, "destination.labels");
	/* the cookie stays, for `podwall explain`, even unresolved */
	assert_int_equal(jint(r, "policy_cookie"), 43);
	assert_absent(r, "ingress_allowed_by");

	/* a protocol without ports: no l4, the number stays */
	ev = ev_make(PW_EV_DROP, PW_DROP_POLICY, PW_DIR_EGRESS, 47, "198.18.0.10", 0, "198.18.0.20",
		     0);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	assert_absent(f.cap.rec[1], "l4");
	assert_int_equal(jint(f.cap.rec[1], "ip_protocol"), 47);

	/* malformed input is counted, not recorded */
	ev.type = 99;
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), -EINVAL);
	ev.type = PW_EV_DROP;
	ev.family = 5;
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), -EINVAL);
	assert_int_equal(f.cap.n, 2);
	{
		struct pw_flowlog_stats st;

		pw_flowlog_get_stats(f.fl, &st);
		assert_int_equal(st.bad_events, 2);
		assert_int_equal(st.events, 4);
	}
	fx_close(&f);
}

/* --- escaping --------------------------------------------------------------------------------- */

/* Strict UTF-8 check of a whole line (what every JSON consumer requires). */
static bool valid_utf8(const char *s)
{
	char *copy = malloc(3 * strlen(s) + 1);
	bool ok;

	pw_utf8_sanitize(s, SIZE_MAX, copy, 3 * strlen(s) + 1);
	ok = !strcmp(copy, s);
	free(copy);
	return ok;
}

static void test_utf8_sanitize(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"plain", "plain"},
		{"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"},
		{"a\xff"
		 "b",
		 "a\xef\xbf\xbd"
		 "b"},
		{"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},		  /* overlong '/' */
		{"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
		{"\xe2\x82"
		 "x",
		 "\xef\xbf\xbd"
		 "x"}, /* truncated: one U+FFFD */
		{"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
		{"end\xc3", "end\xef\xbf\xbd"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pw_utf8_sanitize(cases[i].in, SIZE_MAX, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
	}
	/* n bounds the input (comm is not NUL-terminated when 16 bytes long) */
	assert_int_equal(pw_utf8_sanitize("abcdef", 3, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	/* truncation never leaves half a sequence */
	assert_int_equal(pw_utf8_sanitize("ab\xc3\xa9", SIZE_MAX, out, 4), 2);
	assert_string_equal(out, "ab");
}

static void test_escaping(void **state)
{
	struct pw_flowlog_opts o = {.node_name = "node\"/\\"};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_SOCK_DENY, PW_DROP_POLICY, PW_DIR_EGRESS, IPPROTO_UDP,
				     NULL, 0, "198.18.0.20", 53);
	json_object *r;
	const char *line;

	ev.flags = PW_EV_F_SOCK;
	ev.ep_id = 9;
	ev.src_identity = 302;
	/* 16 bytes, no NUL: quote, backslash, controls, invalid UTF-8 */
	memcpy(ev.comm, "a\"b\\c\n\t\x1b[2J\xff\xc3(\x7f", 16);
	fx_open(&f, &o, true);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	line = f.cap.line[0];
	r = f.cap.rec[0];
	assert_true(valid_utf8(line));
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		assert_true(*p >= 0x20); /* every control character escaped */
	assert_non_null(strstr(line, "\\u001b"));
	assert_non_null(strstr(line, "\"a\\\"b\\\\c\\n\\t"));
	/* back through a JSON parser: the same text, invalid bytes replaced */
	assert_string_equal(jstr(r, "process.comm"),
			    "a\"b\\c\n\t\x1b[2J\xef\xbf\xbd\xef\xbf\xbd(\x7f");
	assert_string_equal(jstr(r, "node_name"), "node\"/\\");
	assert_jstr(r, "source.labels.0", "app=\"quoted\"\\back");
	assert_jstr(r, "source.labels.1", "note=line\nbreak\x01");
	assert_jstr(r, "source.labels.2", "bad=\xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd");
	assert_jstr(r, "source.labels.3", "ok=caf\xc3\xa9");
	fx_close(&f);
}

/* --- filters ---------------------------------------------------------------------------------- */

static json_object *rec_of(const char *json)
{
	json_object *o = json_tokener_parse(json);

	assert_non_null(o);
	return o;
}

static bool match_args(json_object *rec, int64_t now, int argc, char *const argv[])
{
	struct pw_flowfilter f;
	char err[256] = "";
	bool m;

	pw_flowfilter_init(&f);
	assert_int_equal(pw_flowfilter_parse(&f, argc, argv, now, err, sizeof(err)), 0);
	m = pw_flowfilter_match(&f, rec);
	pw_flowfilter_free(&f);
	return m;
}

#define MATCH(rec, ...)                                                             \
	match_args(rec, now, sizeof((char *const[]){__VA_ARGS__}) / sizeof(char *), \
		   (char *const[]){__VA_ARGS__})

static void test_filters(void **state)
{
	int64_t now;
	json_object *a, *d, *lost, *se;

	assert_int_equal(pw_time_parse_rfc3339("2023-11-14T22:20:00Z", &now), 0);
	a = rec_of("{\"time\":\"2023-11-14T22:13:20.5Z\",\"kind\":\"flow_new\","
		   "\"verdict\":\"FORWARDED\",\"traffic_direction\":\"EGRESS\","
		   "\"l4\":{\"TCP\":{\"source_port\":40000,\"destination_port\":5432}},"
		   "\"source\":{\"namespace\":\"shop\",\"pod_name\":\"web-5d8f\"},"
		   "\"destination\":{\"namespace\":\"db\",\"pod_name\":\"pg-0\"}}");
	d = rec_of("{\"time\":\"2023-11-14T22:19:00Z\",\"kind\":\"flow_denied\","
		   "\"verdict\":\"DROPPED\",\"traffic_direction\":\"INGRESS\","
		   "\"l4\":{\"UDP\":{\"source_port\":999,\"destination_port\":53}},"
		   "\"source\":{\"identity\":2},"
		   "\"destination\":{\"namespace\":\"kube-system\",\"pod_name\":\"dns-1\"}}");
	lost = rec_of("{\"time\":\"2023-11-14T22:19:30Z\",\"kind\":\"lost\",\"lost\":3,"
		      "\"cpu\":0}");
	se = rec_of("{\"time\":\"2023-11-14T22:19:40Z\",\"kind\":\"sock_deny\","
		    "\"verdict\":\"DROPPED\",\"traffic_direction\":\"EGRESS\","
		    "\"l4\":{\"TCP\":{\"destination_port\":443}},"
		    "\"source\":{\"namespace\":\"shop\",\"pod_name\":\"web-5d8f\"}}");

	/* empty filter */
	assert_true(match_args(a, now, 0, NULL));
	/* --namespace: either end, exact */
	assert_true(MATCH(a, "--namespace", "db"));
	assert_true(MATCH(a, "--namespace=shop"));
	assert_true(MATCH(a, "-n", "shop"));
	assert_false(MATCH(a, "--namespace", "sho"));
	assert_false(MATCH(d, "--namespace", "shop"));
	assert_true(MATCH(d, "--namespace", "shop", "--namespace", "kube-system")); /* OR */
	/* --pod: [ns/]prefix, either end */
	assert_true(MATCH(a, "--pod", "web"));
	assert_true(MATCH(a, "--pod", "shop/web-5d8f"));
	assert_true(MATCH(a, "--pod", "db/"));
	assert_true(MATCH(a, "--pod", "pg"));
	assert_false(MATCH(a, "--pod", "db/web"));
	assert_false(MATCH(a, "--pod", "dns"));
	assert_false(MATCH(d, "--pod", "shop/"));
	/* --verdict */
	assert_true(MATCH(a, "--verdict", "FORWARDED"));
	assert_true(MATCH(a, "--verdict", "allowed"));
	assert_false(MATCH(a, "--verdict", "dropped"));
	assert_true(MATCH(d, "--verdict", "DROPPED"));
	assert_true(MATCH(d, "--verdict", "audit", "--verdict", "dropped"));
	/* --direction */
	assert_true(MATCH(a, "--direction", "egress"));
	assert_false(MATCH(a, "--direction", "ingress"));
	assert_true(MATCH(d, "--direction=INGRESS"));
	/* --port: either port */
	assert_true(MATCH(a, "--port", "5432"));
	assert_true(MATCH(a, "--port", "40000"));
	assert_false(MATCH(a, "--port", "53"));
	assert_true(MATCH(d, "--port", "53"));
	assert_true(MATCH(d, "--port", "999"));
	assert_true(MATCH(se, "--port", "443"));
	/* --kind */
	assert_true(MATCH(se, "--kind", "sock_deny"));
	assert_false(MATCH(a, "--kind", "sock_deny"));
	/* --since: relative and absolute, inclusive */
	assert_false(MATCH(a, "--since", "5m"));
	assert_true(MATCH(d, "--since", "5m"));
	assert_true(MATCH(a, "--since", "6m40s"));  /* 22:13:20 exactly */
	assert_false(MATCH(a, "--since", "6m39s")); /* 22:13:21 */
	assert_true(MATCH(a, "--since", "1h"));
	assert_true(MATCH(a, "--since", "2023-11-14T22:13:20.5Z"));
	assert_false(MATCH(a, "--since", "2023-11-14T22:13:20.500000001Z"));
	assert_true(MATCH(a, "--since", "2023-11-14T23:13:00+01:00"));
	assert_false(MATCH(a, "--since", "2023-11-14T23:14:00+01:00"));
	/* combinations: AND across options */
	assert_true(MATCH(a, "--namespace", "shop", "--verdict", "FORWARDED", "--port", "5432",
			  "--direction", "egress", "--since", "10m"));
	assert_false(MATCH(a, "--namespace", "shop", "--verdict", "DROPPED"));
	assert_false(MATCH(a, "--pod", "web", "--port", "53"));
	assert_true(
		MATCH(se, "--pod", "shop/web", "--verdict", "DROPPED", "--direction", "egress"));
	assert_false(MATCH(d, "--namespace", "kube-system", "--direction", "egress"));
	/* a loss matches entity filters (the view may be missing records) but not --since */
	assert_true(MATCH(lost, "--namespace", "shop", "--verdict", "FORWARDED"));
	assert_true(MATCH(lost, "--since", "1m"));
	assert_false(MATCH(lost, "--since", "20s"));
	assert_false(MATCH(lost, "--kind", "flow_new"));
	assert_true(MATCH(lost, "--kind", "lost"));

	json_object_put(a);
	json_object_put(d);
	json_object_put(lost);
	json_object_put(se);
}

static void test_filter_errors(void **state)
{
	static const char *const bad[][2] = {
		{"--verdict", "maybe"},
		{"--direction", "up"},
		{"--port", "65536"},
		{"--port", "-1"},
		{"--port", "8o"},
		{"--since", "5 minutes"},
		{"--since", "2023-13-01T00:00:00Z"},
		{"--since", "2023-11-14"},
		{"--bogus", "x"},
		{"--kind", "nope"},
		{"--pod", "/"},
	};
	struct pw_flowfilter f;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		pw_flowfilter_init(&f);
		assert_int_equal(
			pw_flowfilter_parse(&f, 2, (char *const *)bad[i], 0, err, sizeof(err)),
			-EINVAL);
		assert_true(strlen(err) > 0);
		pw_flowfilter_free(&f);
	}
	pw_flowfilter_init(&f);
	assert_int_equal(pw_flowfilter_parse(&f, 1, (char *const[]){"--port"}, 0, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(pw_flowfilter_parse(&f, 1, (char *const[]){"stray"}, 0, err, sizeof(err)),
			 -EINVAL);
	pw_flowfilter_free(&f);
}

static void test_time_parsing(void **state)
{
	int64_t ns;

	assert_int_equal(pw_duration_parse("5m", &ns), 0);
	assert_true(ns == 300 * (int64_t)SEC);
	assert_int_equal(pw_duration_parse("1h30m", &ns), 0);
	assert_true(ns == 5400 * (int64_t)SEC);
	assert_int_equal(pw_duration_parse("2d", &ns), 0);
	assert_true(ns == 172800 * (int64_t)SEC);
	assert_int_equal(pw_duration_parse("250ms", &ns), 0);
	assert_true(ns == 250000000);
	assert_int_equal(pw_duration_parse("1m1ms", &ns), 0);
	assert_true(ns == 60001000000ll);
	assert_int_equal(pw_duration_parse("", &ns), -EINVAL);
	assert_int_equal(pw_duration_parse("m", &ns), -EINVAL);
	assert_int_equal(pw_duration_parse("5", &ns), -EINVAL);
	assert_int_equal(pw_duration_parse("5x", &ns), -EINVAL);
	assert_int_equal(pw_duration_parse("99999999999999999999h", &ns), -EINVAL);
	assert_int_equal(pw_time_parse_rfc3339("1970-01-01T00:00:00Z", &ns), 0);
	assert_true(ns == 0);
	assert_int_equal(pw_time_parse_rfc3339("2023-11-14T22:13:20.123456789Z", &ns), 0);
	assert_true(ns == OFFSET_NS + 123456789);
	assert_int_equal(pw_time_parse_rfc3339("2023-11-14T17:13:20-05:00", &ns), 0);
	assert_true(ns == OFFSET_NS);
	assert_int_equal(pw_time_parse_rfc3339("2023-11-14T22:13:20", &ns), -EINVAL);
	assert_int_equal(pw_time_parse_rfc3339("2023-11-14T22:13:20Zjunk", &ns), -EINVAL);
	/* the record time format round-trips */
	{
		char buf[40];

		pw_flowlog_format_time(OFFSET_NS + 7, buf, sizeof(buf));
		assert_string_equal(buf, "2023-11-14T22:13:20.000000007Z");
		assert_int_equal(pw_time_parse_rfc3339(buf, &ns), 0);
		assert_true(ns == OFFSET_NS + 7);
	}
}

/* --- rotation ------------------------------------------------------------------------------- */

static char tmpdir[128];

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pw-flowlog-test-%d", (int)getpid());
	rm_tree(tmpdir);
	return mkdir(tmpdir, 0700);
}

static int teardown_tmp(void **state)
{
	rm_tree(tmpdir);
	return access(tmpdir, F_OK) == 0 ? -1 : 0;
}

/* Parse every line of a file; seq numbers appended to seqs. Returns the line count or -1. */
static int read_seqs(const char *path, int64_t *seqs, size_t *n, size_t max, uint64_t max_bytes)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct stat st;
	int lines = 0;

	if (!f)
		return -1;
	assert_int_equal(fstat(fileno(f), &st), 0);
	if (max_bytes)
		assert_true((uint64_t)st.st_size <= max_bytes);
	while ((len = getline(&line, &cap, f)) > 0) {
		json_object *r;

		/* every line whole: ends in '\n' and parses */
		assert_int_equal(line[len - 1], '\n');
		line[len - 1] = '\0';
		r = json_tokener_parse(line);
		assert_non_null(r);
		assert_true(*n < max);
		seqs[(*n)++] = jint(r, "seq");
		json_object_put(r);
		lines++;
	}
	free(line);
	fclose(f);
	return lines;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* length of the first line, '\n' included */
static uint64_t first_line_len(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	assert_non_null(f);
	len = getline(&line, &cap, f);
	assert_true(len > 0);
	free(line);
	fclose(f);
	return (uint64_t)len;
}

static void emit_denies(struct pw_flowlog *fl, int count, int first_port)
{
	for (int i = 0; i < count; i++) {
		struct pw_event ev =
			ev_make(PW_EV_DROP, PW_DROP_POLICY, PW_DIR_EGRESS, IPPROTO_TCP,
				"198.18.0.10", 40000, "198.18.0.20", (uint16_t)(first_port + i));

		ev.ts_ns = (uint64_t)i;
		assert_int_equal(pw_flowlog_event(fl, 0, &ev), 1);
	}
}

static void test_rotation(void **state)
{
	char path[256], p[300];
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .path = path,
				    .max_bytes = 2048,
				    .keep = 2,
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS,
				    .rl_disable = true};
	struct pw_flowlog *fl;
	struct pw_flowlog_stats st;
	int64_t seqs[512];
	size_t n = 0;
	int total = 100;

	snprintf(path, sizeof(path), "%s/flows.json", tmpdir);
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	emit_denies(fl, total, 1000);
	pw_flowlog_get_stats(fl, &st);
	assert_true(st.rotations >= 3); /* 100 records of ~700 bytes in 2 KiB files */
	assert_int_equal(st.write_errors, 0);
	pw_flowlog_free(fl);

	/* oldest to newest: path.2, path.1, path; path.3 never exists */
	snprintf(p, sizeof(p), "%s.3", path);
	assert_int_not_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s.2", path);
	assert_true(read_seqs(p, seqs, &n, 512, o.max_bytes) > 0);
	snprintf(p, sizeof(p), "%s.1", path);
	assert_true(read_seqs(p, seqs, &n, 512, o.max_bytes) > 0);
	assert_true(read_seqs(path, seqs, &n, 512, o.max_bytes) > 0);
	/* contiguous up to the last record: only records beyond retention are gone */
	assert_true(n < (size_t)total);
	for (size_t i = 1; i < n; i++)
		assert_true(seqs[i] == seqs[i - 1] + 1);
	assert_true(seqs[n - 1] == total);
	/* the dropped ones are exactly the oldest files' worth: none lost in between */
	assert_true(seqs[0] > 1);
	/* rotated only when needed: each older file plus the next record would not fit */
	{
		const char *order[3] = {".2", ".1", ""};

		for (int i = 0; i < 2; i++) {
			char older[300], newer[300];

			snprintf(older, sizeof(older), "%s%s", path, order[i]);
			snprintf(newer, sizeof(newer), "%s%s", path, order[i + 1]);
			assert_true(file_size(older) + first_line_len(newer) > o.max_bytes);
		}
	}

	/* reopening appends to the existing file and keeps counting its size */
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	pw_flowlog_get_stats(fl, &st);
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_true(st.file_bytes == (uint64_t)sb.st_size);
	}
	pw_flowlog_free(fl);
}

static void test_rotation_edges(void **state)
{
	char path[256], p[300];
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .path = path,
				    .max_bytes = 100,
				    .keep = 0,
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS,
				    .rl_disable = true,
				    .fsync = PW_FLOWLOG_FSYNC_ALWAYS};
	struct pw_flowlog *fl;
	int64_t seqs[16];
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/edge.json", tmpdir);
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	/* each record is larger than max_bytes: written alone, whole, never split */
	emit_denies(fl, 3, 2000);
	assert_int_equal(pw_flowlog_sync(fl), 0);
	pw_flowlog_free(fl);
	/* keep = 0: rotation truncates, only the newest record remains */
	assert_int_equal(read_seqs(path, seqs, &n, 16, 0), 1);
	assert_int_equal(seqs[0], 3);
	snprintf(p, sizeof(p), "%s.1", path);
	assert_int_not_equal(access(p, F_OK), 0);

	/* an unwritable path fails at open, with -errno */
	snprintf(p, sizeof(p), "%s/no/such/dir/f.json", tmpdir);
	o.path = p;
	assert_int_equal(pw_flowlog_new(&o, &fl), -ENOENT);
	assert_null(fl);
}

/* --- rate limiting ---------------------------------------------------------------------------- */

static struct pw_event deny_at(uint64_t ts, uint16_t sport)
{
	struct pw_event ev = ev_make(PW_EV_DROP, PW_DROP_POLICY, PW_DIR_INGRESS, IPPROTO_TCP,
				     "198.18.0.10", sport, "198.18.0.20", 22);

	ev.ep_id = 8;
	ev.ts_ns = ts;
	return ev;
}

static uint64_t accounted(const struct cap *c)
{
	uint64_t n = 0;

	/* every record stands for itself plus the denies it carries */
	for (size_t i = 0; i < c->n; i++)
		n += 1 +
		     (jpath(c->rec[i], "suppressed") ? (uint64_t)jint(c->rec[i], "suppressed") : 0);
	return n;
}

static void test_rate_limit(void **state)
{
	struct pw_flowlog_opts o = {.rl_window_ns = 10 * SEC};
	struct pw_flowlog_stats st;
	struct fx f;
	const int N = 50;

	fx_open(&f, &o, false);
	/* N identical denies (retransmits and new source ports alike) within one window */
	for (int i = 0; i < N; i++) {
		struct pw_event ev =
			deny_at(SEC + (uint64_t)i * 1000000, (uint16_t)(40000 + i % 3));

		assert_int_equal(pw_flowlog_event(f.fl, i % 2, &ev), i == 0 ? 1 : 0);
	}
	assert_int_equal(f.cap.n, 1);
	assert_absent(f.cap.rec[0], "suppressed");
	pw_flowlog_get_stats(f.fl, &st);
	assert_int_equal(st.suppressed_pending, N - 1);
	assert_int_equal(st.suppressed, 0);
	/* the window is still open: nothing to flush */
	assert_int_equal(pw_flowlog_flush(f.fl, SEC + 10 * SEC - 1), 0);
	assert_int_equal(f.cap.n, 1);
	/* window over: the newest suppressed deny is recorded, carrying the others */
	assert_int_equal(pw_flowlog_flush(f.fl, SEC + 10 * SEC), 1);
	assert_int_equal(f.cap.n, 2);
	assert_int_equal(jint(f.cap.rec[1], "suppressed"), N - 2);
	assert_int_equal(jint(f.cap.rec[1], "l4.TCP.source_port"), 40000 + (N - 1) % 3);
	assert_jstr(f.cap.rec[1], "time", "2023-11-14T22:13:21.049000000Z");
	assert_true(accounted(&f.cap) == (uint64_t)N);
	pw_flowlog_get_stats(f.fl, &st);
	assert_int_equal(st.suppressed_pending, 0);
	assert_int_equal(st.suppressed, N - 2);
	/* nothing left: a second flush emits nothing */
	assert_int_equal(pw_flowlog_flush(f.fl, 100 * SEC), 0);

	/* carried by the next record instead, when a deny comes after the window unflushed */
	cap_reset(&f.cap);
	for (int i = 0; i < 5; i++) {
		struct pw_event ev = deny_at(30 * SEC + (uint64_t)i, 40000);

		pw_flowlog_event(f.fl, 0, &ev);
	}
	{
		struct pw_event ev = deny_at(45 * SEC, 40000);

		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	}
	assert_int_equal(f.cap.n, 2);
	assert_int_equal(jint(f.cap.rec[1], "suppressed"), 4);
	assert_non_null(strstr(jstr(f.cap.rec[1], "Summary"), "+4 similar suppressed"));
	assert_true(accounted(&f.cap) == 6);

	/*
	 * Two CPUs' rings drained in turns hand denies in out of time order: the flushed record
	 * is the newest by the kernel clock (source port 40009), not the last handed in.
	 */
	cap_reset(&f.cap);
	{
		static const uint64_t at[] = {0, 9, 1, 2, 3, 4}; /* ms into the window */

		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			/* inside the window the 45 s record opened: all six are suppressed */
			struct pw_event ev =
				deny_at(47 * SEC + at[i] * 1000000, (uint16_t)(40000 + at[i]));

			assert_int_equal(pw_flowlog_event(f.fl, (int)(i % 2), &ev), 0);
		}
	}
	assert_int_equal(pw_flowlog_flush(f.fl, 56 * SEC), 1);
	assert_int_equal(f.cap.n, 1);
	assert_int_equal(jint(f.cap.rec[0], "l4.TCP.source_port"), 40009);
	assert_int_equal(jint(f.cap.rec[0], "suppressed"), 5);

	/* a different key is not limited by this one; allowed flows never are */
	cap_reset(&f.cap);
	{
		struct pw_event ev = deny_at(45 * SEC + 1, 40000), ok;

		ev.dport = htons(23);
		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
		ok = ev;
		ok.type = PW_EV_FLOW_NEW;
		ok.reason = PW_OK_POLICY;
		for (int i = 0; i < 3; i++)
			assert_int_equal(pw_flowlog_event(f.fl, 0, &ok), 1);
	}
	assert_int_equal(f.cap.n, 4);

	/* pending counts at shutdown are recorded by free (seen by the subscriber) */
	cap_reset(&f.cap);
	for (int i = 0; i < 3; i++) {
		struct pw_event ev = deny_at(60 * SEC + (uint64_t)i, 40000);

		pw_flowlog_event(f.fl, 0, &ev);
	}
	assert_int_equal(f.cap.n, 1);
	pw_flowlog_free(f.fl);
	f.fl = NULL;
	assert_int_equal(f.cap.n, 2);
	assert_int_equal(jint(f.cap.rec[1], "suppressed"), 1);
	assert_true(accounted(&f.cap) == 3);
	cap_reset(&f.cap);
}

/*
 * Drops the kernel folded arrive as counts: the first of them is rate limited as a deny is,
 * the others are what the limit would have held back; every one accounted for, exactly.
 */
static void test_repeats(void **state)
{
	struct pw_flowlog_opts o = {.rl_window_ns = 10 * SEC, .aggregate_ns = 0};
	struct pw_flowlog_stats st;
	struct fx f;

	fx_open(&f, &o, false);
	{
		struct pw_event ev = deny_at(SEC, 40000);

		/* the flood's record, then 999 more of it in one count */
		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
		ev.ts_ns = 2 * SEC;
		assert_int_equal(pw_flowlog_repeats(f.fl, 0, &ev, 999), 0);
		assert_int_equal(pw_flowlog_repeats(f.fl, 0, &ev, 0), 0);
	}
	assert_int_equal(f.cap.n, 1);
	pw_flowlog_get_stats(f.fl, &st);
	assert_int_equal(st.events, 1000);
	assert_int_equal(st.folded, 999);
	assert_int_equal(st.suppressed_pending, 999);
	/* the window's end: one record standing for the others, at the newest time */
	assert_int_equal(pw_flowlog_flush(f.fl, 11 * SEC), 1);
	assert_int_equal(f.cap.n, 2);
	assert_int_equal(jint(f.cap.rec[1], "suppressed"), 998);
	assert_jstr(f.cap.rec[1], "time", "2023-11-14T22:13:22.000000000Z");
	assert_true(accounted(&f.cap) == 1000);

	/* a count past the window: its first is a record carrying the window's remainder */
	cap_reset(&f.cap);
	{
		struct pw_event ev = deny_at(20 * SEC, 40000);

		assert_int_equal(pw_flowlog_repeats(f.fl, 0, &ev, 5), 1);
		ev.ts_ns = 31 * SEC;
		assert_int_equal(pw_flowlog_repeats(f.fl, 1, &ev, 3), 1);
	}
	assert_int_equal(f.cap.n, 2);
	assert_absent(f.cap.rec[0], "suppressed");
	assert_int_equal(jint(f.cap.rec[1], "suppressed"), 4);
	assert_int_equal(pw_flowlog_flush_all(f.fl), 1);
	assert_int_equal(jint(f.cap.rec[2], "suppressed"), 1);
	assert_true(accounted(&f.cap) == 8);
	fx_close(&f);

	/* without the rate limit one record stands for the count */
	memset(&o, 0, sizeof(o));
	o.rl_disable = true;
	fx_open(&f, &o, false);
	{
		struct pw_event ev = deny_at(SEC, 40000);

		assert_int_equal(pw_flowlog_repeats(f.fl, 0, &ev, 7), 1);
	}
	assert_int_equal(f.cap.n, 1);
	assert_int_equal(jint(f.cap.rec[0], "suppressed"), 6);
	assert_true(accounted(&f.cap) == 7);
	fx_close(&f);
}

static void test_rate_limit_burst_and_eviction(void **state)
{
	/* one set of 4 ways: a fifth key evicts the least recently seen one */
	struct pw_flowlog_opts o = {.rl_window_ns = 10 * SEC, .rl_burst = 2, .rl_slots = 4};
	struct pw_flowlog_stats st;
	struct fx f;
	uint64_t in = 0;

	fx_open(&f, &o, false);
	for (int i = 0; i < 5; i++) {
		struct pw_event ev = deny_at(SEC, 40000);

		/* burst of 2 per window */
		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), i < 2 ? 1 : 0);
		in++;
	}
	assert_int_equal(f.cap.n, 2);
	for (int k = 1; k <= 4; k++) {
		for (int i = 0; i < 4; i++) {
			struct pw_event ev = deny_at(2 * SEC + (uint64_t)k, 40000);

			ev.dport = htons((uint16_t)(100 + k));
			pw_flowlog_event(f.fl, 0, &ev);
			in++;
		}
	}
	pw_flowlog_get_stats(f.fl, &st);
	assert_true(st.rl_evictions >= 1);
	/* however keys were evicted, every deny is accounted for once everything is out */
	assert_true(pw_flowlog_flush_all(f.fl) >= 1);
	pw_flowlog_get_stats(f.fl, &st);
	assert_int_equal(st.suppressed_pending, 0);
	assert_true(accounted(&f.cap) == in);
	fx_close(&f);

	/* disabled: every deny recorded */
	memset(&o, 0, sizeof(o));
	o.rl_disable = true;
	fx_open(&f, &o, false);
	for (int i = 0; i < 10; i++) {
		struct pw_event ev = deny_at(SEC, 40000);

		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	}
	assert_int_equal(f.cap.n, 10);
	fx_close(&f);
}

/* --- sampling -----------------------------------------------------------------------------------
 */

static void test_sampling(void **state)
{
	struct pw_flowlog_opts o = {.sample_allowed = 4};
	struct pw_flowlog_stats st;
	struct fx f;
	size_t expect = 0, kept_end = 0, dropped_end = 0;
	const int N = 1000;

	fx_open(&f, &o, false);
	for (int i = 0; i < N; i++) {
		struct pw_event ev =
			ev_make(PW_EV_FLOW_NEW, PW_OK_POLICY, PW_DIR_EGRESS, IPPROTO_TCP,
				"198.18.0.10", (uint16_t)(30000 + i), "198.18.0.20", 80);
		bool keep =
			pw_flow_hash(ev.family, ev.proto, ev.saddr, ev.daddr, ev.sport, ev.dport) %
				4 ==
			0;
		size_t before = f.cap.n;

		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), keep ? 1 : 0);
		assert_int_equal(f.cap.n - before, keep ? 1 : 0);
		if (keep) {
			expect++;
			assert_int_equal(jint(f.cap.rec[f.cap.n - 1], "l4.TCP.source_port"),
					 30000 + i);
		}
		/* the flow's end follows its start: kept or skipped together */
		{
			struct pw_ct_key k = {.family = ev.family,
					      .proto = ev.proto,
					      .scope = PW_DIR_EGRESS,
					      .sport = ev.sport,
					      .dport = ev.dport};
			struct pw_ct_entry v = {.packets = {1, 1}};

			memcpy(k.saddr, ev.saddr, 16);
			memcpy(k.daddr, ev.daddr, 16);
			before = f.cap.n;
			pw_flowlog_flow_end(f.fl, &k, &v, PW_END_TIMEOUT);
			if (f.cap.n > before)
				kept_end++;
			else
				dropped_end++;
			assert_int_equal(f.cap.n - before, keep ? 1 : 0);
		}
	}
	/* the hash spreads: roughly a quarter, not all or nothing */
	assert_true(expect > N / 8 && expect < N * 3 / 8);
	assert_int_equal(kept_end, expect);
	pw_flowlog_get_stats(f.fl, &st);
	assert_int_equal(st.sampled_out, 2 * (N - expect));
	/* denies and audits are never sampled out */
	for (int i = 0; i < 20; i++) {
		struct pw_event ev =
			ev_make(PW_EV_AUDIT, PW_OK_AUDIT, PW_DIR_EGRESS, IPPROTO_TCP, "198.18.0.10",
				(uint16_t)(30000 + i), "198.18.0.20", 80);

		assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	}
	/* the hash itself is stable (documented: FNV-1a + murmur3 finaliser) */
	{
		uint32_t z[4] = {0};

		assert_int_equal(pw_flow_hash(4, 6, z, z, 0, 0), pw_flow_hash(4, 6, z, z, 0, 0));
		assert_int_not_equal(pw_flow_hash(4, 6, z, z, 0, 0),
				     pw_flow_hash(4, 17, z, z, 0, 0));
	}
	fx_close(&f);
}

/* --- ring, subscribers, stdout
 * -------------------------------------------------------------------- */

static int ring_collect(void *ctx, const char *line, size_t len)
{
	struct cap *c = ctx;

	cap_fn(c, line, len);
	return 0;
}

static int ring_stop(void *ctx, const char *line, size_t len)
{
	int *n = ctx;

	return ++*n == 3 ? 77 : 0;
}

struct unsub_ctx {
	struct pw_flowlog *fl;
	int id, calls;
};

static void unsub_self(void *ctx, const char *line, size_t len)
{
	struct unsub_ctx *u = ctx;

	u->calls++;
	assert_int_equal(pw_flowlog_unsubscribe(u->fl, u->id), 0);
}

static void test_ring_and_subscribers(void **state)
{
	struct pw_flowlog_opts o = {.ring_size = 8, .rl_disable = true};
	struct fx f;
	struct cap ring = {0};
	struct unsub_ctx u = {0};
	struct pw_flowfilter filt;
	json_object *arr;
	int stop = 0;
	char err[128];

	fx_open(&f, &o, true);
	u.fl = f.fl;
	u.id = pw_flowlog_subscribe(f.fl, unsub_self, &u);
	assert_true(u.id > 0);
	emit_denies(f.fl, 20, 3000);
	/* the self-unsubscriber saw exactly one record; the other subscriber saw all */
	assert_int_equal(u.calls, 1);
	assert_int_equal(pw_flowlog_unsubscribe(f.fl, u.id), -ENOENT);
	assert_int_equal(f.cap.n, 20);
	/* the ring holds the last 8, oldest first */
	assert_int_equal(pw_flowlog_ring_foreach(f.fl, ring_collect, &ring), 0);
	assert_int_equal(ring.n, 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(jint(ring.rec[i], "seq"), 13 + (int64_t)i);
	assert_int_equal(pw_flowlog_ring_foreach(f.fl, ring_stop, &stop), 77);
	cap_reset(&ring);

	/* recent: filtered, limited, oldest first */
	pw_flowfilter_init(&filt);
	assert_int_equal(pw_flowfilter_parse(&filt, 2, (char *const[]){"--port", "3015"}, 0, err,
					     sizeof(err)),
			 0);
	arr = pw_flowlog_recent(f.fl, pw_flowfilter_match_cb, &filt, 0);
	assert_int_equal(json_object_array_length(arr), 1);
	assert_int_equal(jint(arr, "0.seq"), 16);
	json_object_put(arr);
	arr = pw_flowlog_recent(f.fl, NULL, NULL, 3);
	assert_int_equal(json_object_array_length(arr), 3);
	assert_int_equal(jint(arr, "0.seq"), 18);
	assert_int_equal(jint(arr, "2.seq"), 20);
	json_object_put(arr);
	arr = pw_flowlog_recent(f.fl, NULL, NULL, 0);
	assert_int_equal(json_object_array_length(arr), 8);
	json_object_put(arr);
	pw_flowfilter_free(&filt);
	fx_close(&f);
}

static void test_stdout_sink(void **state)
{
	struct pw_flowlog_opts o = {.sz = sizeof(o),
				    .path = "-",
				    .clock_offset_set = true,
				    .clock_offset_ns = OFFSET_NS};
	struct pw_flowlog *fl;
	char path[256], buf[4096];
	int saved, fd;
	FILE *f;
	json_object *r;

	/* point fd 1 at a file for the duration */
	snprintf(path, sizeof(path), "%s/stdout.json", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);
	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	assert_int_equal(pw_flowlog_lost(fl, 2, 9), 1);
	pw_flowlog_free(fl);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);

	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_null(fgets(buf + strlen(buf), (int)(sizeof(buf) - strlen(buf)), f) ? buf : NULL);
	fclose(f);
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	r = json_tokener_parse(buf);
	assert_non_null(r);
	assert_int_equal(jint(r, "lost"), 9);
	assert_int_equal(jint(r, "cpu"), 2);
	json_object_put(r);
}

struct logcap {
	int n[4];
	char last[512];
};

static void log_fn(void *ctx, enum pw_log_level lvl, const char *msg)
{
	struct logcap *l = ctx;

	l->n[lvl]++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

static void test_write_errors(void **state)
{
	struct logcap lc = {0};
	struct pw_flowlog_opts o = {
		.path = "/dev/full", .rl_disable = true, .log = log_fn, .log_ctx = &lc};
	struct pw_flowlog_stats st;
	struct fx f;

	/* every write fails with ENOSPC: counted, logged once, still in memory */
	fx_open(&f, &o, false);
	emit_denies(f.fl, 5, 100);
	assert_int_equal(f.cap.n, 5);
	pw_flowlog_get_stats(f.fl, &st);
	assert_int_equal(st.write_errors, 5);
	assert_int_equal(st.records, 5);
	assert_int_equal(lc.n[PW_LOG_ERROR], 1);
	assert_non_null(strstr(lc.last, "/dev/full"));
	assert_non_null(strstr(lc.last, strerror(ENOSPC)));
	{
		json_object *arr = pw_flowlog_recent(f.fl, NULL, NULL, 0);

		assert_int_equal(json_object_array_length(arr), 5);
		json_object_put(arr);
	}
	fx_close(&f);
}

static void test_clock_offset(void **state)
{
	struct pw_flowlog_opts o = {.sz = sizeof(o)};
	struct pw_flowlog *fl;
	int64_t expect = 0, gap = INT64_MAX;

	assert_int_equal(pw_flowlog_new(&o, &fl), 0);
	/* our own bracketed measurement, best of several (other work shares these CPUs) */
	for (int i = 0; i < 20; i++) {
		struct timespec m1, w, m2;
		int64_t a, b;

		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_REALTIME, &w);
		clock_gettime(CLOCK_MONOTONIC, &m2);
		a = m1.tv_sec * 1000000000ll + m1.tv_nsec;
		b = m2.tv_sec * 1000000000ll + m2.tv_nsec;
		if (b - a < gap) {
			gap = b - a;
			expect = w.tv_sec * 1000000000ll + w.tv_nsec - (a + (b - a) / 2);
		}
	}
	/* measured, not assumed: within 5 ms of ours (any error is preemption, not drift) */
	assert_true(llabs(pw_flowlog_clock_offset(fl) - expect) < 5000000);
	pw_flowlog_clock_resync(fl);
	assert_true(llabs(pw_flowlog_clock_offset(fl) - expect) < 5000000);
	pw_flowlog_free(fl);
	/* options are checked: too small, or newer fields we do not know set */
	o.sz = 4;
	assert_int_equal(pw_flowlog_new(&o, &fl), -EINVAL);
	{
		_Alignas(struct pw_flowlog_opts) char big[sizeof(o) + 8] = {0};
		struct pw_flowlog_opts *bo = (struct pw_flowlog_opts *)big;

		bo->sz = sizeof(big);
		assert_int_equal(pw_flowlog_new(bo, &fl), 0);
		pw_flowlog_free(fl);
		big[sizeof(o) + 3] = 1;
		assert_int_equal(pw_flowlog_new(bo, &fl), -EINVAL);
	}
}

/* --- table -------------------------------------------------------------------------------------
 */

static void test_table(void **state)
{
	struct pw_flowlog_opts o = {0};
	struct fx f;
	struct pw_event ev = ev_make(PW_EV_FLOW_NEW, PW_OK_POLICY, PW_DIR_EGRESS, IPPROTO_TCP,
				     "198.18.0.10", 40000, "198.18.0.20", 5432);
	char row[512];
	const char *hdr = pw_flow_table_header();

	ev.cookie = 42;
	ev.ep_id = 7;
	fx_open(&f, &o, true);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	ev = ev_make(PW_EV_SOCK_DENY, PW_DROP_POLICY, PW_DIR_EGRESS, IPPROTO_UDP, NULL, 0,
		     "198.19.255.1", 53);
	ev.flags = PW_EV_F_SOCK;
	ev.ep_id = 9;
	ev.pid = 77;
	memcpy(ev.comm, "sh\x1b]0;pwn\x07", 11);
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	assert_int_equal(pw_flowlog_lost(f.fl, 1, 12), 1);

	assert_non_null(strstr(hdr, "TIME"));
	assert_true(strstr(hdr, "SOURCE") < strstr(hdr, "DESTINATION"));
	assert_true(strstr(hdr, "PORT") < strstr(hdr, "VERDICT"));
	assert_non_null(strstr(hdr, "REASON/POLICY"));

	pw_flow_format_row(f.cap.rec[0], row, sizeof(row));
	assert_true(!strncmp(row, "Nov 14 22:13:20.123 ", 20));
	assert_non_null(strstr(row, "shop/web-5d8f"));
	assert_non_null(strstr(row, "db/pg-0"));
	assert_non_null(strstr(row, "5432/TCP"));
	assert_non_null(strstr(row, "FORWARDED"));
	assert_non_null(strstr(row, "allowed-by-policy by shop/allow-web-egress[1]"));
	/* columns line up with the header */
	assert_int_equal(strstr(row, "db/pg-0") - row, strstr(hdr, "DESTINATION") - hdr);
	assert_int_equal(strstr(row, "FORWARDED") - row, strstr(hdr, "VERDICT") - hdr);

	pw_flow_format_row(f.cap.rec[1], row, sizeof(row));
	assert_non_null(strstr(row, "evil/x"));
	assert_non_null(strstr(row, "198.19.255.1 (198.19.255.0/24)"));
	assert_non_null(strstr(row, "53/UDP"));
	assert_non_null(strstr(row, "DROPPED"));
	assert_non_null(strstr(row, "socket policy-denied"));
	assert_non_null(strstr(row, "pid 77 comm sh?]0;pwn?"));
	for (const unsigned char *p = (const unsigned char *)row; *p; p++)
		assert_true(*p >= 0x20 && *p != 0x7f);

	pw_flow_format_row(f.cap.rec[2], row, sizeof(row));
	assert_non_null(strstr(row, "LOST"));
	assert_non_null(strstr(row, "lost 12 samples on cpu 1"));
	assert_int_equal(pw_flowlog_lost_unread(f.fl, 3), 1);
	pw_flow_format_row(f.cap.rec[3], row, sizeof(row));
	assert_non_null(strstr(row, "LOST"));
	assert_non_null(strstr(row, "lost 3 events: no reader attached"));
	/* a host prefix of the address itself is not repeated */
	ev.daddr[0] = htonl(0xa9fea9fe); /* 169.254.169.254 */
	assert_int_equal(pw_flowlog_event(f.fl, 0, &ev), 1);
	assert_jstr(f.cap.rec[f.cap.n - 1], "destination.cidr", "169.254.169.254/32");
	pw_flow_format_row(f.cap.rec[f.cap.n - 1], row, sizeof(row));
	assert_non_null(strstr(row, "169.254.169.254 "));
	assert_null(strstr(row, "(169.254"));
	assert_int_equal(pw_flowlog_lost_flow_ends(f.fl, 2), 1);
	pw_flow_format_row(f.cap.rec[f.cap.n - 1], row, sizeof(row));
	assert_non_null(strstr(row, "lost 2 flow ends"));
	assert_jstr(f.cap.rec[f.cap.n - 1], "lost_reason", "flow-end-not-kept");
	assert_null(jpath(f.cap.rec[f.cap.n - 1], "cpu"));

	/* a tiny buffer is cut, never overrun */
	assert_true(pw_flow_format_row(f.cap.rec[0], row, 10) < 10);
	assert_int_equal(strlen(row), pw_flow_format_row(f.cap.rec[0], row, 10));
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_new),
		cmocka_unit_test(test_flow_denied),
		cmocka_unit_test(test_sock_deny),
		cmocka_unit_test(test_revoked_and_audit),
		cmocka_unit_test(test_flow_end),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_no_enricher_v6_icmp),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_filter_errors),
		cmocka_unit_test(test_time_parsing),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_rotation_edges),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_rate_limit_burst_and_eviction),
		cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_ring_and_subscribers),
		cmocka_unit_test(test_stdout_sink),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_clock_offset),
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
