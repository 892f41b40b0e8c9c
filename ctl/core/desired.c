// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The desired state (compile.h): what the compiler produces and the reconciler writes. Copy,
 * compare and look up, and evaluate a connection on it exactly as bpf/lib/policy.h does in
 * the kernel (explain and the tests' truth tables use it).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

/* --- desired state helpers -------------------------------------------------------------------- */

/* the header before a key array: its reference count, padded to the strictest alignment */
union dkeys_hdr {
	size_t refs;
	max_align_t align;
};

struct pw_dkey *pw_dkeys_alloc(size_t n)
{
	union dkeys_hdr *h;

	if (n > (SIZE_MAX - sizeof(*h)) / sizeof(struct pw_dkey) - 1)
		return NULL;
	h = malloc(sizeof(*h) + (n ? n : 1) * sizeof(struct pw_dkey));
	if (!h)
		return NULL;
	h->refs = 1;
	return (struct pw_dkey *)(h + 1);
}

struct pw_dkey *pw_dkeys_share(struct pw_dkey *keys)
{
	if (keys)
		((union dkeys_hdr *)keys - 1)->refs++;
	return keys;
}

void pw_dkeys_put(struct pw_dkey *keys)
{
	union dkeys_hdr *h;

	if (!keys)
		return;
	h = (union dkeys_hdr *)keys - 1;
	if (!--h->refs)
		free(h);
}

void pw_desired_clear(struct pw_desired *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_subjects; i++)
		pw_dkeys_put(d->subjects[i].keys);
	free(d->subjects);
	free(d->ipc);
	free(d->eps);
	memset(d, 0, sizeof(*d));
}

int pw_desired_copy(struct pw_desired *dst, const struct pw_desired *src)
{
	struct pw_desired d = {0};
	size_t i;

	d.subjects = calloc(src->n_subjects + 1, sizeof(*d.subjects));
	d.ipc = malloc((src->n_ipc + 1) * sizeof(*d.ipc));
	d.eps = malloc((src->n_eps + 1) * sizeof(*d.eps));
	if (!d.subjects || !d.ipc || !d.eps)
		goto nomem;
	/* the key arrays are never written once made: shared, not copied */
	for (i = 0; i < src->n_subjects; i++) {
		d.subjects[i] = src->subjects[i];
		d.subjects[i].keys = pw_dkeys_share(src->subjects[i].keys);
		d.n_subjects++;
	}
	if (src->n_ipc)
		memcpy(d.ipc, src->ipc, src->n_ipc * sizeof(*d.ipc));
	d.n_ipc = src->n_ipc;
	if (src->n_eps)
		memcpy(d.eps, src->eps, src->n_eps * sizeof(*d.eps));
	d.n_eps = src->n_eps;
	d.n_recompiled = src->n_recompiled;
	d.n_recompiled_peers = src->n_recompiled_peers;
	d.gen = src->gen;
	d.carried_from = src->carried_from;
	*dst = d;
	return 0;
nomem:
	pw_desired_clear(&d);
	return -ENOMEM;
}

static bool ep_equal(const struct pw_endpoint *a, const struct pw_endpoint *b)
{
	/* policy_gen belongs to the reconciler */
	struct pw_endpoint x = *a, y = *b;

	x.policy_gen = y.policy_gen = 0;
	return !memcmp(&x, &y, sizeof(x));
}

bool pw_desired_equal(const struct pw_desired *a, const struct pw_desired *b)
{
	size_t i;

	if (a->n_subjects != b->n_subjects || a->n_ipc != b->n_ipc || a->n_eps != b->n_eps)
		return false;
	for (i = 0; i < a->n_subjects; i++) {
		const struct pw_dsubject *x = &a->subjects[i], *y = &b->subjects[i];

		if (x->id != y->id || x->flags != y->flags || x->n != y->n ||
		    (x->n && memcmp(x->keys, y->keys, x->n * sizeof(*x->keys))))
			return false;
	}
	if (a->n_ipc && memcmp(a->ipc, b->ipc, a->n_ipc * sizeof(*a->ipc)))
		return false;
	for (i = 0; i < a->n_eps; i++) {
		if (!ep_equal(&a->eps[i], &b->eps[i]))
			return false;
	}
	return true;
}

size_t pw_desired_policy_keys(const struct pw_desired *d)
{
	size_t i, n = 0;

	for (i = 0; i < d->n_subjects; i++)
		n += d->subjects[i].n;
	return n;
}

const struct pw_dsubject *pw_desired_subject(const struct pw_desired *d, uint32_t id)
{
	size_t lo = 0, hi = d->n_subjects;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (d->subjects[mid].id == id)
			return &d->subjects[mid];
		if (d->subjects[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct pw_endpoint *pw_desired_endpoint(const struct pw_desired *d, uint32_t ep_id)
{
	size_t i;

	for (i = 0; i < d->n_eps; i++) {
		if (d->eps[i].ep_id == ep_id)
			return &d->eps[i];
	}
	return NULL;
}

void pw_dkey_range(const struct pw_dkey *k, uint16_t *lo, uint16_t *hi)
{
	if (!k->proto) {
		*lo = 0;
		*hi = 0xffff;
		return;
	}
	*lo = k->port;
	*hi = (uint16_t)(k->port + ((1u << (16 - k->port_bits)) - 1));
}

/* ipcache entry order: by family, prefix length, then address */
int pw_dipc_cmp(const void *a, const void *b)
{
	const struct pw_dipc *x = a, *y = b;

	if (x->prefix.family != y->prefix.family)
		return x->prefix.family < y->prefix.family ? -1 : 1;
	if (x->prefix.prefixlen != y->prefix.prefixlen)
		return x->prefix.prefixlen < y->prefix.prefixlen ? -1 : 1;
	return memcmp(x->prefix.a, y->prefix.a, sizeof(x->prefix.a));
}

/* key order: the reconciler and the equality test rely on it */
int pw_dkey_cmp(const void *a, const void *b)
{
	const struct pw_dkey *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port_bits != y->port_bits)
		return x->port_bits < y->port_bits ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return 0;
}

/* --- evaluation, as bpf/lib/policy.h does it -------------------------------------------------- */

/* First index of d->ipc not ordered before (family, prefixlen) with the lowest address. */
static size_t ipc_lower_bound(const struct pw_desired *d, uint8_t family, unsigned int prefixlen)
{
	size_t lo = 0, hi = d->n_ipc;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pw_prefix *p = &d->ipc[mid].prefix;

		if (p->family < family || (p->family == family && p->prefixlen < prefixlen))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Longest prefix match on the sorted array: one binary search per prefix length present (a
 * node has a few: its pods' /32 or /128 and the lengths policies name), not a scan of every
 * entry, so enriching a record stays cheap with 10k pods.
 */
void pw_desired_ipcache_lookup(const struct pw_desired *d, const struct pw_addr *a,
			       uint32_t *identity, uint32_t *cidr_identity)
{
	const struct pw_dipc *best = NULL;
	size_t i = ipc_lower_bound(d, a->family, 0);

	while (i < d->n_ipc && d->ipc[i].prefix.family == a->family) {
		unsigned int len = d->ipc[i].prefix.prefixlen;
		size_t end = ipc_lower_bound(d, a->family, len + 1), lo = i, hi = end;
		struct pw_dipc key = {0};

		pw_prefix_of_addr(a, len, &key.prefix); /* as the array keeps prefixes */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = pw_dipc_cmp(&d->ipc[mid], &key);

			if (!c) {
				best = &d->ipc[mid]; /* lengths ascend: a later hit is longer */
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		i = end;
	}
	*identity = best ? best->identity : PW_ID_WORLD;
	*cidr_identity = best ? best->cidr_identity : 0;
}

/* Longest matching key of (subject, peer, dir) for proto/port, as the policy trie answers. */
static const struct pw_dkey *policy_match(const struct pw_dsubject *s, uint32_t peer, uint8_t dir,
					  uint8_t proto, uint16_t port)
{
	const struct pw_dkey *best = NULL;
	int best_len = -1, len;
	size_t i;

	for (i = 0; s && i < s->n; i++) {
		const struct pw_dkey *k = &s->keys[i];

		if (k->peer != peer || k->dir != dir)
			continue;
		if (!k->proto) {
			len = 0;
		} else {
			uint16_t mask =
				k->port_bits ? (uint16_t)(0xffffu << (16 - k->port_bits)) : 0;

			if (k->proto != proto || ((port ^ k->port) & mask))
				continue;
			len = 1 + k->port_bits;
		}
		if (len > best_len) {
			best = k;
			best_len = len;
		}
	}
	return best;
}

/* The entry set of (subject, dir): exact peer, the peer's CIDR identity, any peer. */
static const struct pw_dkey *set_match(const struct pw_dsubject *s, uint32_t id, uint32_t cid,
				       uint8_t dir, uint8_t proto, uint16_t port)
{
	const struct pw_dkey *k = policy_match(s, id, dir, proto, port);

	if (!k && cid && cid != id)
		k = policy_match(s, cid, dir, proto, port);
	if (!k)
		k = policy_match(s, PW_ID_ANY, dir, proto, port);
	return k;
}

/*
 * as_kernel: bpf/lib/policy.h's answer (PW_OK_AUDIT where only the audit set denies). Else the
 * verdict as if the audit policies were enforced too, their allows added to the enforced ones.
 */
static int decide(const struct pw_desired *d, uint32_t subject, uint32_t flags, uint8_t dir,
		  const struct pw_addr *a, uint8_t proto, uint16_t port, uint32_t *cookie,
		  uint32_t *peer_id, bool as_kernel)
{
	uint32_t isolate = dir == PW_DIR_EGRESS ? PW_EP_F_ISOLATE_EGRESS : PW_EP_F_ISOLATE_INGRESS;
	uint32_t audit =
		dir == PW_DIR_EGRESS ? PW_EP_F_AUDIT_ISOLATE_EGRESS : PW_EP_F_AUDIT_ISOLATE_INGRESS;
	const struct pw_dsubject *s = pw_desired_subject(d, subject);
	const struct pw_dkey *k;
	uint32_t id, cid;

	pw_desired_ipcache_lookup(d, a, &id, &cid);
	if (peer_id)
		*peer_id = id;
	*cookie = 0;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP)
		port = 0;
	if (!(flags & isolate)) {
		if (!(flags & audit))
			return PW_OK_NOT_ISOLATED;
		k = set_match(s, id, cid, dir | PW_POL_DIR_AUDIT, proto, port);
		if (as_kernel)
			return k ? PW_OK_NOT_ISOLATED : PW_OK_AUDIT;
		if (!k)
			return PW_DROP_POLICY;
		*cookie = k->cookie;
		return PW_OK_POLICY;
	}
	k = set_match(s, id, cid, dir, proto, port);
	if (!k && !as_kernel)
		k = set_match(s, id, cid, dir | PW_POL_DIR_AUDIT, proto, port);
	if (!k)
		return as_kernel && (flags & PW_EP_F_AUDIT) ? PW_OK_AUDIT : PW_DROP_POLICY;
	*cookie = k->cookie;
	return PW_OK_POLICY;
}

int pw_desired_decide(const struct pw_desired *d, uint32_t subject, uint32_t flags, uint8_t dir,
		      const struct pw_addr *a, uint8_t proto, uint16_t port, uint32_t *cookie,
		      uint32_t *peer_id)
{
	return decide(d, subject, flags, dir, a, proto, port, cookie, peer_id, true);
}

int pw_desired_decide_audit(const struct pw_desired *d, uint32_t subject, uint32_t flags,
			    uint8_t dir, const struct pw_addr *a, uint8_t proto, uint16_t port,
			    uint32_t *cookie)
{
	return decide(d, subject, flags, dir, a, proto, port, cookie, NULL, false);
}
