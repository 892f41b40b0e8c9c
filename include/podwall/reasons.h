/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The verdict reasons, listed once (shared.h includes this). PW_REASONS(X) generates the
 * enum (kernel and userspace), the names podwall prints (pw_reason_str) and the Hubble drop
 * reason each maps to in flow records (pw_reason_hubble_drop_name/_code). Adding a reason is
 * adding one row; the checks below refuse a row that does not fit.
 *
 * Each program has a single exit that turns a reason into a verdict, a counter and (when
 * warranted) an event. Reasons below PW_DROP_FIRST let the packet pass; the rest drop it.
 */
#ifndef PODWALL_REASONS_H
#define PODWALL_REASONS_H

/*
 * X(reason, value, name, hubble_name, hubble_code)
 *   value        fixed: events and the counter slots (pw_metrics_v2) carry it, so a value is
 *                never reused; below PW_DROP_FIRST passes, from it up to PW_REASON_MAX drops
 *   name         what podwall prints (CLI, flow records' "reason", metrics labels)
 *   hubble_name  the closest Hubble DropReason (cilium flow.proto), flow records'
 *   hubble_code  "drop_reason_desc" and event_type.sub_type; a pass is no drop: 0, UNKNOWN
 */
/* clang-format off */
#define PW_REASONS(X)									\
	/* new flow allowed by a policy entry */					\
	X(PW_OK_POLICY,            0, "allowed-by-policy",  "DROP_REASON_UNKNOWN", 0)	\
	/* no policy isolates this endpoint in this direction */			\
	X(PW_OK_NOT_ISOLATED,      1, "not-isolated",       "DROP_REASON_UNKNOWN", 0)	\
	/* conntrack hit, original direction */						\
	X(PW_OK_ESTABLISHED,       2, "established",        "DROP_REASON_UNKNOWN", 0)	\
	/* conntrack hit, reply direction */						\
	X(PW_OK_REPLY,             3, "reply",              "DROP_REASON_UNKNOWN", 0)	\
	/* ICMP error about a tracked flow */						\
	X(PW_OK_RELATED,           4, "related-icmp",       "DROP_REASON_UNKNOWN", 0)	\
	/* ARP, neighbour discovery */							\
	X(PW_OK_PASSTHROUGH,       5, "passthrough",        "DROP_REASON_UNKNOWN", 0)	\
	/* interface or cgroup not managed by podwall */				\
	X(PW_OK_NO_ENDPOINT,       6, "no-endpoint",        "DROP_REASON_UNKNOWN", 0)	\
	/* socket: loopback or the pod's own address */					\
	X(PW_OK_LOCAL,             7, "local",              "DROP_REASON_UNKNOWN", 0)	\
	/* would drop, endpoint in audit mode */					\
	X(PW_OK_AUDIT,             8, "audit-would-drop",   "DROP_REASON_UNKNOWN", 0)	\
	/* later fragment of an allowed first fragment */				\
	X(PW_OK_FRAG,              9, "fragment",           "DROP_REASON_UNKNOWN", 0)	\
	/* no policy entry allows it */							\
	X(PW_DROP_POLICY,         16, "policy-denied",      "POLICY_DENIED", 133)	\
	/* source address is not the pod's */						\
	X(PW_DROP_SPOOFED,        17, "spoofed-source",     "INVALID_SOURCE_IP", 132)	\
	/* truncated or invalid header */						\
	X(PW_DROP_MALFORMED,      18, "malformed",						\
	  "CT_TRUNCATED_OR_INVALID_HEADER", 135)					\
	/* later fragment whose first fragment was not seen */				\
	X(PW_DROP_FRAG_NO_FIRST,  19, "fragment-without-first",				\
	  "FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND", 175)				\
	/* IPv6 extension header chain too long to walk */				\
	X(PW_DROP_EXTHDR_LIMIT,   20, "ipv6-exthdr-limit",					\
	  "INVALID_IPV6_EXTENSION_HEADER", 156)						\
	/* established flow no longer allowed after a change */				\
	X(PW_DROP_REVOKED,        21, "revoked",            "POLICY_DENIED", 133)	\
	/* endpoint is quarantined */							\
	X(PW_DROP_QUARANTINE,     22, "quarantined",        "POLICY_DENY", 181)		\
	/* neither IPv4, IPv6 nor ARP (VLAN tags included) */				\
	X(PW_DROP_UNSUPPORTED_L3, 23, "unsupported-l3",     "UNSUPPORTED_L3_PROTOCOL", 139) \
	/* later fragment of a denied first fragment */					\
	X(PW_DROP_FRAG_DENIED,    24, "fragment-of-denied", "POLICY_DENIED", 133)	\
	/* link layer (docs/architecture.md "Link layer"): */				\
	/* Ethernet or ARP sender MAC is not the pod's own */				\
	X(PW_DROP_SPOOFED_MAC,    25, "spoofed-mac",        "INVALID_SOURCE_MAC", 141)	\
	/* the pod's MAC was never learned: it sends nothing */				\
	X(PW_DROP_MAC_UNKNOWN,    26, "mac-unknown",        "INVALID_SOURCE_MAC", 141)	\
	/* delivered to a pod it is not addressed to (MAC or unicast IP) */		\
	X(PW_DROP_FOREIGN_DST,    27, "foreign-destination",				\
	  "INVALID_DESTINATION_MAC", 142)						\
	/* router advertisement, redirect or MLD query sent by a pod */			\
	X(PW_DROP_ROUTER_MSG,     28, "router-message",     "INVALID_PACKET_DROPPED", 134)	\
	/* socket: a Service port with no ready backend (connect() gets ECONNREFUSED) */	\
	X(PW_DROP_NO_BACKEND,     29, "no-ready-backend",   "NO_SERVICE", 158)

#define PW_REASON_ENUM(reason, value, name, hubble_name, hubble_code) reason = value,
enum pw_reason {
	PW_REASONS(PW_REASON_ENUM)
	PW_DROP_FIRST = 16,
	PW_REASON_MAX = 32, /* the counter grid's height: part of the pw_metrics_v2 layout */
};
#undef PW_REASON_ENUM
/* clang-format on */

static inline int pw_reason_is_drop(unsigned int reason)
{
	return reason >= PW_DROP_FIRST;
}

/*
 * Every row fits: its value is on the counter grid, on the side of PW_DROP_FIRST its Hubble
 * code says (every drop names a Hubble drop reason, no pass does), and no two rows share a
 * value (the enum alone would allow it: the bits of distinct values add up to their OR).
 */
#define PW_REASON_CHECK(reason, value, name, hubble_name, hubble_code)           \
	_Static_assert((value) >= 0 && (value) < PW_REASON_MAX,                  \
		       #reason ": value past the counter grid (PW_REASON_MAX)"); \
	_Static_assert(((value) >= PW_DROP_FIRST) == ((hubble_code) != 0),       \
		       #reason ": a drop (>= PW_DROP_FIRST) needs a Hubble code, a pass none");
PW_REASONS(PW_REASON_CHECK)
#undef PW_REASON_CHECK

/* clang-format off */
#define PW_REASON_OR(reason, value, ...)  | (1ull << (value))
#define PW_REASON_SUM(reason, value, ...) + (1ull << (value))
/* clang-format on */
_Static_assert(PW_REASON_MAX <= 64, "the value check below needs one bit per value");
_Static_assert((0 PW_REASONS(PW_REASON_OR)) == (0 PW_REASONS(PW_REASON_SUM)),
	       "two reasons in PW_REASONS share a value");
#undef PW_REASON_OR
#undef PW_REASON_SUM

#ifndef __bpf__
static inline const char *pw_reason_str(unsigned int reason)
{
	switch (reason) {
#define PW_REASON_CASE(reason, value, name, hubble_name, hubble_code) \
	case reason:                                                  \
		return name;
		PW_REASONS(PW_REASON_CASE)
#undef PW_REASON_CASE
	default:
		return "unknown";
	}
}

/* Hubble's DropReason name (flow records' drop_reason_desc); unknown reasons included */
static inline const char *pw_reason_hubble_drop_name(unsigned int reason)
{
	switch (reason) {
#define PW_REASON_CASE(reason, value, name, hubble_name, hubble_code) \
	case reason:                                                  \
		return hubble_name;
		PW_REASONS(PW_REASON_CASE)
#undef PW_REASON_CASE
	default:
		return "DROP_REASON_UNKNOWN";
	}
}

/* Hubble's numeric DropReason, the event_type sub_type of a drop (cilium monitor API) */
static inline int pw_reason_hubble_drop_code(unsigned int reason)
{
	switch (reason) {
#define PW_REASON_CASE(reason, value, name, hubble_name, hubble_code) \
	case reason:                                                  \
		return hubble_code;
		PW_REASONS(PW_REASON_CASE)
#undef PW_REASON_CASE
	default:
		return 0;
	}
}
#endif /* !__bpf__ */

#endif /* PODWALL_REASONS_H */
