// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The words flow records are made of, shared by both record writers and the sinks: kinds,
 * protocol and reserved-identity names, Hubble's drop reasons, IPFIX end reasons, the
 * Summary text, times, UTF-8 repair, the sampling hash, logging. It calls nothing else of
 * the library (the bottom of its files' call graph: scripts/check-layers.sh).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowlog_int.h"

void pw_fl_logf(struct pw_flowlog *fl, enum pw_log_level lvl, const char *fmt, ...)
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
	return pw_fl_mix32(h);
}

/* murmur3's 32-bit finaliser: every input bit moves every output bit */
uint32_t pw_fl_mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 with *bad = bytes to skip */
size_t pw_fl_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
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
		size_t bad = 0, k = pw_fl_utf8_seq(s + i, end - i, &bad);
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

/* Hubble's numeric DropReason, the event_type sub_type of a drop (cilium monitor API) */
int pw_fl_drop_reason_code(unsigned int reason)
{
	return pw_reason_hubble_drop_code(reason);
}

uint64_t pw_fl_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* --- shared vocabulary ----------------------------------------------------------------------- */

const char *const pw_fl_tcp_flag_names[8] = {"FIN", "SYN", "RST", "PSH",
					     "ACK", "URG", "ECE", "CWR"};
const char *const pw_fl_ct_states[3] = {"new", "established", "closing"};

const char *pw_fl_proto_name(uint8_t proto)
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

const char *pw_fl_reserved_label(uint32_t id)
{
	if (id == PW_ID_HOST)
		return "reserved:host";
	if (id == PW_ID_WORLD || (id & PW_ID_CIDR_FLAG))
		return "reserved:world";
	if (id == PW_ID_UNKNOWN)
		return "reserved:unknown";
	return NULL;
}

const char *pw_fl_event_kind(uint8_t type)
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

/* Hubble's Summary: "TCP Flags: SYN", "UDP", ... with " (+N similar suppressed)" */
size_t pw_fl_summary(const struct pw_event *ev, uint64_t suppressed, char *buf, size_t len)
{
	const char *pn = pw_fl_proto_name(ev->proto);
	int n;

	if (ev->proto == IPPROTO_TCP && ev->type != PW_EV_SOCK_DENY) {
		size_t off = (size_t)snprintf(buf, len, "TCP Flags:");
		bool first = true;

		for (int i = 0; i < 8; i++) {
			if (!(ev->tcp_flags & (1u << i)))
				continue;
			off += (size_t)snprintf(buf + off, len - off, "%s %s", first ? "" : ",",
						pw_fl_tcp_flag_names[i]);
			first = false;
		}
		n = (int)off;
	} else if (pn) {
		n = snprintf(buf, len, "%s", pn);
	} else {
		n = snprintf(buf, len, "IP protocol %u", ev->proto);
	}
	if (suppressed && n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n, " (+%llu similar suppressed)",
			      (unsigned long long)suppressed);
	return n > 0 && (size_t)n < len ? (size_t)n : strlen(buf);
}

/*
 * IPFIX flowEndReason (IE 136) value and name, and podwall's own word: IPFIX calls both a
 * flushed and a revoked flow forcedEnd, an auditor needs to tell them apart.
 */
const char *pw_fl_end_reason(enum pw_flow_end_reason why, int *ipfix, const char **end)
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
