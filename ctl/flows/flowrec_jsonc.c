// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The record as a json-c object tree, built, printed and freed per record: the flow log's
 * path before the streaming writer (flowrec.c). It costs about ten times as much per record;
 * it stays, behind opts.legacy_json, so that bench_flowlog prints the old and the new path
 * in the same run and the equivalence test (tests/test_flowlog.c) can compare both byte for
 * byte. The daemon never selects it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowlog_int.h"

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
	json_object *o = json_object_new_object();

	for (int i = 0; i < 8; i++) {
		if (f & (1u << i))
			json_object_object_add(o, pw_fl_tcp_flag_names[i],
					       json_object_new_boolean(1));
	}
	return o;
}

/* sport == 0 on a socket deny: the port is not bound yet, so it is left out */
static void add_l4(json_object *o, uint8_t proto, uint16_t sport_be, uint16_t dport_be,
		   bool with_flags, uint8_t flags)
{
	const char *name = pw_fl_proto_name(proto);
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
	rl = pw_fl_reserved_label(identity);
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
		/* names from the API server: repaired as UTF-8 like every string from outside */
		add_str(svc, "name", slash + 1, SIZE_MAX);
		add_str(svc, "namespace", name, (size_t)(slash - name));
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
	const char *kind = pw_fl_event_kind(ev->type);
	bool egress = ev->direction == PW_DIR_EGRESS;
	bool sock = ev->type == PW_EV_SOCK_DENY;
	json_object *o = new_record(fl, pw_fl_wall(fl, ev->ts_ns), kind);
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
		add_event_type(o, MSG_DROP, pw_fl_drop_reason_code(ev->reason));
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

		/* an operator's free text: repaired as UTF-8 like every string from outside */
		if (why && *why)
			add_str(o, "quarantine_reason", why, SIZE_MAX);
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
	{
		char sum[160];

		pw_fl_summary(ev, suppressed, sum, sizeof(sum));
		add_lit(o, "Summary", sum);
	}
	return o;
}

/* Consumes rec: seq last, printed as one line, handed to the sinks. */
static int emit(struct pw_flowlog *fl, json_object *rec)
{
	const char *line;
	size_t len;
	int err;

	if (!rec)
		return -ENOMEM;
	add_u64(rec, "seq", ++fl->seq);
	line = json_object_to_json_string_length(
		rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (!line) {
		fl->seq--;
		json_object_put(rec);
		return -ENOMEM;
	}
	err = pw_fl_sink_line(fl, line, len);
	json_object_put(rec);
	return err;
}

int pw_fl_jsonc_event(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t suppressed)
{
	return emit(fl, event_record(fl, ev, suppressed));
}

int pw_fl_jsonc_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			 const struct pw_ct_entry *val, enum pw_flow_end_reason why)
{
	bool egress = key->scope == PW_DIR_EGRESS, audit = val->flags & PW_CT_F_AUDIT;
	json_object *o, *fe;
	int ipfix;
	const char *end, *why_name = pw_fl_end_reason(why, &ipfix, &end);

	/* the record's time is when the end was observed; the flow's own times are below */
	o = new_record(fl, pw_fl_wall(fl, pw_fl_mono_now()), "flow_end");
	if (!o)
		return -ENOMEM;
	add_lit(o, "verdict", "FORWARDED"); /* AUDIT is recorded once, by the audit record */
	if (audit)
		json_object_object_add(o, "audit", json_object_new_boolean(1));
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
	json_object_object_add(
		fe, "flowStartMilliseconds",
		json_object_new_int64(pw_fl_wall(fl, val->created_ns) / NSEC_PER_MSEC));
	json_object_object_add(
		fe, "flowEndMilliseconds",
		json_object_new_int64(pw_fl_wall(fl, val->last_seen_ns) / NSEC_PER_MSEC));
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
	add_lit(fe, "state", val->state < 3 ? pw_fl_ct_states[val->state] : "unknown");
	if (val->flags & PW_CT_F_MIDSTREAM)
		json_object_object_add(fe, "midstream", json_object_new_boolean(1));
	json_object_object_add(o, "flow_end", fe);
	return emit(fl, o);
}

int pw_fl_jsonc_lost(struct pw_flowlog *fl, int cpu, uint64_t lost, const char *reason,
		     const char *summary)
{
	json_object *o = new_record(fl, pw_fl_wall(fl, pw_fl_mono_now()), "lost");

	if (!o)
		return -ENOMEM;
	add_u64(o, "lost", lost);
	if (cpu >= 0)
		json_object_object_add(o, "cpu", json_object_new_int(cpu));
	add_u64(o, "lost_total", fl->st.lost);
	add_lit(o, "lost_reason", reason);
	add_lit(o, "Summary", summary);
	return emit(fl, o);
}
