// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Map writers: endpoints, ipcache, policy. Each call is one batch of bpf_map_update_elem
 * calls (LPM tries have no batch ops); the first failure stops the batch and is reported
 * with the map, the entry and, when the map is full, its capacity.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "objects.h"

/* --- CIDRs ------------------------------------------------------------------------------- */

static unsigned int family_bits(uint8_t family)
{
	return family == PW_FAMILY_V4 ? 32 : family == PW_FAMILY_V6 ? 128 : 0;
}

/* Clear (or, with check, detect) address bits past prefixlen. */
static bool mask_host_bits(uint32_t addr[4], unsigned int prefixlen, unsigned int bits, bool check)
{
	unsigned char *b = (unsigned char *)addr;
	bool had = false;
	unsigned int i;

	for (i = prefixlen; i < bits; i++) {
		unsigned char m = 0x80 >> (i % 8);

		if (b[i / 8] & m)
			had = true;
		if (!check)
			b[i / 8] &= ~m;
	}
	return had;
}

int pw_cidr_parse(const char *s, struct pw_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash, *p;
	unsigned int len, max;
	struct pw_cidr c = {};
	size_t n;

	if (!s || !out)
		return -EINVAL;
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1)
		c.family = PW_FAMILY_V4;
	else if (inet_pton(AF_INET6, buf, c.addr) == 1)
		c.family = PW_FAMILY_V6;
	else
		return -EINVAL;
	max = family_bits(c.family);
	len = max;
	if (slash) {
		p = slash + 1;
		if (!*p || strlen(p) > 3)
			return -EINVAL;
		for (len = 0; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			len = len * 10 + (*p - '0');
		}
		if (len > max)
			return -EINVAL;
	}
	c.prefixlen = len;
	/* "198.18.0.1/15" is a typo more often than a network: refuse it */
	if (mask_host_bits(c.addr, len, max, true))
		return -EINVAL;
	*out = c;
	return 0;
}

const char *pw_cidr_format(const struct pw_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!buf || !len)
		return "";
	if (!c || !family_bits(c->family) ||
	    !inet_ntop(c->family == PW_FAMILY_V4 ? AF_INET : AF_INET6, c->addr, a, sizeof(a))) {
		snprintf(buf, len, "<invalid>");
		return buf;
	}
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
	return buf;
}

static int ipcache_key(const struct pw_cidr *c, struct pw_ipcache_key *k)
{
	unsigned int bits = family_bits(c->family);

	if (!bits || c->prefixlen > bits)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	k->prefixlen = PW_IPCACHE_PREFIX_BITS + c->prefixlen;
	k->family = c->family;
	if (c->family == PW_FAMILY_V4)
		k->addr[0] = c->addr[0];
	else
		memcpy(k->addr, c->addr, sizeof(k->addr));
	mask_host_bits(k->addr, c->prefixlen, bits, false);
	return 0;
}

/* --- ipcache ----------------------------------------------------------------------------- */

int pw_dp_ipcache_update(struct pw_dp *dp, const struct pw_ipcache_entry *e, size_t n)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_IPCACHE);
	struct pw_ipcache_key k;
	char cb[64], what[128];
	size_t i;
	int err;

	if (fd < 0 || (n && !e))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		err = ipcache_key(&e[i].cidr, &k);
		if (err) {
			pw_err(dp, "ipcache entry %zu: invalid CIDR (family %u, /%u)", i,
			       e[i].cidr.family, e[i].cidr.prefixlen);
			return err;
		}
		if (bpf_map_update_elem(fd, &k, &e[i].val, BPF_ANY)) {
			err = -errno;
			snprintf(what, sizeof(what), "%s -> identity %u (entry %zu of %zu)",
				 pw_cidr_format(&e[i].cidr, cb, sizeof(cb)), e[i].val.identity, i,
				 n);
			return pw_dp_write_err(dp, PW_DPMAP_IPCACHE, err, "add", what);
		}
	}
	return 0;
}

int pw_dp_ipcache_delete(struct pw_dp *dp, const struct pw_cidr *c, size_t n)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_IPCACHE);
	struct pw_ipcache_key k;
	char cb[64];
	size_t i;
	int err;

	if (fd < 0 || (n && !c))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		err = ipcache_key(&c[i], &k);
		if (err)
			return err;
		/* deleting what is absent is fine: reconciliation may repeat itself */
		if (bpf_map_delete_elem(fd, &k) && errno != ENOENT) {
			err = -errno;
			return pw_dp_write_err(dp, PW_DPMAP_IPCACHE, err, "delete",
					       pw_cidr_format(&c[i], cb, sizeof(cb)));
		}
	}
	return 0;
}

int pw_dp_ipcache_get(struct pw_dp *dp, const struct pw_cidr *c, struct pw_ipcache_val *out)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_IPCACHE);
	struct pw_ipcache_key k, next, first;
	int err;

	if (fd < 0 || !c || !out)
		return -EINVAL;
	err = ipcache_key(c, &k);
	if (err)
		return err;
	/*
	 * A lookup is a longest match and may answer from a shorter prefix. The trie's
	 * get_next_key tells exact presence in O(prefix) instead: for a present key it returns
	 * the key's postorder successor (never the leftmost node) or ENOENT when the key is
	 * last; for an absent key it restarts at the leftmost node.
	 */
	if (bpf_map_get_next_key(fd, NULL, &first))
		return -ENOENT; /* empty */
	if (bpf_map_get_next_key(fd, &k, &next) == 0) {
		if (memcmp(&next, &first, sizeof(next)) == 0)
			return -ENOENT;
	} else if (errno != ENOENT) {
		return -errno;
	}
	return bpf_map_lookup_elem(fd, &k, out) ? -errno : 0;
}

/* --- policy ------------------------------------------------------------------------------ */

int pw_policy_expand(const struct pw_policy_entry *e, struct pw_policy_key *keys, size_t max)
{
	struct pw_policy_key base = {};
	uint32_t lo, hi, size;
	unsigned int k;
	size_t n = 0;

	if (!e || (e->direction & ~PW_POL_DIR_AUDIT) >= PW_DIR_MAX || e->port_lo > e->port_hi)
		return -EINVAL;
	base.subject = htonl(e->subject);
	base.peer = htonl(e->peer);
	base.direction = e->direction;
	base.proto = e->proto;
	if (!e->proto) {
		if (max < 1)
			return -ENOSPC;
		base.prefixlen = PW_POLICY_BITS_ANY_PROTO;
		keys[0] = base;
		return 1;
	}
	/* greedy: the largest aligned power-of-two block at lo that stays within hi */
	lo = e->port_lo;
	hi = e->port_hi;
	while (lo <= hi) {
		for (k = 16; k > 0; k--) {
			size = 1u << k;
			if ((lo & (size - 1)) == 0 && lo + size - 1 <= hi)
				break;
		}
		size = 1u << k;
		if (n >= max)
			return -ENOSPC;
		keys[n] = base;
		keys[n].prefixlen = PW_POLICY_BITS_PROTO + (16 - k);
		keys[n].dport = htons((uint16_t)lo);
		n++;
		lo += size;
	}
	return (int)n;
}

/* at most 2 * 16 - 2 prefixes cover any 16-bit range */
#define PW_POLICY_MAX_PREFIXES 30

static void policy_str(const struct pw_policy_entry *e, char *buf, size_t len)
{
	snprintf(buf, len, "subject %u peer %u %s%s proto %u ports %u-%u", e->subject, e->peer,
		 pw_dir_str(e->direction & ~PW_POL_DIR_AUDIT),
		 e->direction & PW_POL_DIR_AUDIT ? " (audit)" : "", e->proto, e->port_lo,
		 e->port_hi);
}

int pw_dp_policy_update(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_POLICY);
	struct pw_policy_key keys[PW_POLICY_MAX_PREFIXES];
	char what[160];
	int i, cnt, err, total = 0;
	size_t j;

	if (fd < 0 || (n && !e))
		return -EINVAL;
	for (j = 0; j < n; j++) {
		cnt = pw_policy_expand(&e[j], keys, PW_POLICY_MAX_PREFIXES);
		if (cnt < 0) {
			policy_str(&e[j], what, sizeof(what));
			pw_err(dp, "invalid policy entry %zu: %s", j, what);
			return cnt;
		}
		for (i = 0; i < cnt; i++) {
			if (bpf_map_update_elem(fd, &keys[i], &e[j].val, BPF_ANY)) {
				err = -errno;
				policy_str(&e[j], what, sizeof(what));
				return pw_dp_write_err(dp, PW_DPMAP_POLICY, err, "add", what);
			}
			total++;
		}
	}
	return total;
}

int pw_dp_policy_delete(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_POLICY);
	struct pw_policy_key keys[PW_POLICY_MAX_PREFIXES];
	char what[160];
	int i, cnt, err, total = 0;
	size_t j;

	if (fd < 0 || (n && !e))
		return -EINVAL;
	for (j = 0; j < n; j++) {
		cnt = pw_policy_expand(&e[j], keys, PW_POLICY_MAX_PREFIXES);
		if (cnt < 0)
			return cnt;
		for (i = 0; i < cnt; i++) {
			if (bpf_map_delete_elem(fd, &keys[i]) == 0) {
				total++;
			} else if (errno != ENOENT) {
				err = -errno;
				policy_str(&e[j], what, sizeof(what));
				return pw_dp_write_err(dp, PW_DPMAP_POLICY, err, "delete", what);
			}
		}
	}
	return total;
}

/* --- endpoints --------------------------------------------------------------------------- */

static void ep_str(const struct pw_endpoint *ep, char *buf, size_t len)
{
	snprintf(buf, len, "endpoint %u (ifindex %u, cgroup %llu)", ep->ep_id, ep->ifindex,
		 (unsigned long long)ep->cgroup_id);
}

static bool mac_zero(const uint8_t *mac)
{
	static const uint8_t zero[sizeof(((struct pw_endpoint *)0)->mac)];

	return !memcmp(mac, zero, sizeof(zero));
}

static int ep_learn(struct pw_dp *dp, struct pw_endpoint *ep, enum pw_log_level level)
{
	uint32_t master = 0;
	uint8_t mac[6];
	int err;

	if (!dp || !ep || !ep->ifindex)
		return -EINVAL;
	err = pw_nl_link_l2(ep->ifindex, mac, &master);
	if (err) {
		pw_log(dp, level,
		       "endpoint %u: cannot learn the pod's MAC from ifindex %u (%s): its pod sends "
		       "nothing until it is known",
		       ep->ep_id, ep->ifindex, strerror(-err));
		return err;
	}
	memcpy(ep->mac, mac, sizeof(ep->mac));
	ep->link_ifindex = master;
	return 0;
}

int pw_dp_endpoint_learn(struct pw_dp *dp, struct pw_endpoint *ep)
{
	return ep_learn(dp, ep, PW_LOG_WARN);
}

int pw_dp_endpoint_upsert(struct pw_dp *dp, const struct pw_endpoint *ep)
{
	int ifd = pw_dp_map_fd(dp, PW_DPMAP_EP_IF), cfd = pw_dp_map_fd(dp, PW_DPMAP_EP_CG);
	struct pw_endpoint v;
	char what[96];
	int err;

	if (ifd < 0 || cfd < 0 || !ep || (!ep->ifindex && !ep->cgroup_id) ||
	    ep->n_v4 > PW_EP_MAX_V4 || ep->n_v6 > PW_EP_MAX_V6)
		return -EINVAL;
	v = *ep;
	memset(v.pad, 0, sizeof(v.pad));
	memset(v.pad2, 0, sizeof(v.pad2));
	v.pad3 = 0;
	/* a failure leaves the MAC zero: the datapath then fails closed for this pod */
	if (v.ifindex && mac_zero(v.mac))
		ep_learn(dp, &v, PW_LOG_DEBUG);
	if (v.ifindex && bpf_map_update_elem(ifd, &v.ifindex, &v, BPF_ANY)) {
		err = -errno;
		ep_str(ep, what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_EP_IF, err, "add", what);
	}
	if (v.cgroup_id && bpf_map_update_elem(cfd, &v.cgroup_id, &v, BPF_ANY)) {
		err = -errno;
		ep_str(ep, what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_EP_CG, err, "add", what);
	}
	return 0;
}

int pw_dp_endpoint_delete(struct pw_dp *dp, const struct pw_endpoint *ep)
{
	int ifd = pw_dp_map_fd(dp, PW_DPMAP_EP_IF), cfd = pw_dp_map_fd(dp, PW_DPMAP_EP_CG);
	char what[96];
	int err;

	if (ifd < 0 || cfd < 0 || !ep)
		return -EINVAL;
	if (ep->ifindex && bpf_map_delete_elem(ifd, &ep->ifindex) && errno != ENOENT) {
		err = -errno;
		ep_str(ep, what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_EP_IF, err, "delete", what);
	}
	if (ep->cgroup_id && bpf_map_delete_elem(cfd, &ep->cgroup_id) && errno != ENOENT) {
		err = -errno;
		ep_str(ep, what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_EP_CG, err, "delete", what);
	}
	return 0;
}

int pw_dp_endpoint_lookup_ifindex(struct pw_dp *dp, uint32_t ifindex, struct pw_endpoint *out)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_EP_IF);

	if (fd < 0 || !out)
		return -EINVAL;
	return bpf_map_lookup_elem(fd, &ifindex, out) ? -errno : 0;
}

/* Bump policy_gen of matching endpoints in one endpoint map; key_size 4 or 8. */
static int bump_map(struct pw_dp *dp, enum pw_dp_map m, uint32_t ep_id)
{
	int fd = pw_dp_map_fd(dp, m);
	size_t cap = bpf_map__max_entries(pw_dp_map(dp, m)), n = 0, i;
	uint64_t *keys = calloc(cap ? cap : 1, sizeof(*keys));
	uint64_t next = 0;
	void *prev = NULL;
	struct pw_endpoint v;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	/* keys first: an update moves its element to the head of its bucket, so updating
	 * while walking revisits colliding keys forever */
	while (n < cap && bpf_map_get_next_key(fd, prev, &next) == 0) {
		keys[n] = next;
		prev = &keys[n++];
		next = 0;
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(fd, &keys[i], &v))
			continue;
		if (ep_id && v.ep_id != ep_id)
			continue;
		v.policy_gen++;
		if (bpf_map_update_elem(fd, &keys[i], &v, BPF_EXIST) && errno != ENOENT) {
			err = -errno;
			pw_err(dp, "map %s: cannot bump the policy generation of endpoint %u: %s",
			       pw_dp_map_name(m), v.ep_id, strerror(-err));
			break;
		}
	}
	free(keys);
	return err;
}

int pw_dp_bump_generation(struct pw_dp *dp, uint32_t ep_id)
{
	int err;

	if (!dp)
		return -EINVAL;
	err = bump_map(dp, PW_DPMAP_EP_IF, ep_id);
	if (!err)
		err = bump_map(dp, PW_DPMAP_EP_CG, ep_id);
	return err;
}

int pw_dp_iter_init(struct pw_dp *dp, enum pw_dp_map m, struct pw_dp_iter *it)
{
	struct bpf_map *map = dp ? pw_dp_map(dp, m) : NULL;

	if (!map || !it)
		return -EINVAL;
	if (bpf_map__key_size(map) > sizeof(it->key) || m == PW_DPMAP_EVENTS ||
	    m == PW_DPMAP_METRICS)
		return -EOPNOTSUPP; /* per-CPU and perf maps have no entries to walk */
	memset(it, 0, sizeof(*it));
	it->fd = bpf_map__fd(map);
	it->key_size = bpf_map__key_size(map);
	it->val_size = bpf_map__value_size(map);
	return 0;
}

int pw_dp_iter_next(struct pw_dp_iter *it, void *key, void *val)
{
	uint8_t next[sizeof(it->key)];

	for (;;) {
		if (bpf_map_get_next_key(it->fd, it->started ? it->key : NULL, next)) {
			/* ENOENT: past the last key */
			return errno == ENOENT ? 0 : -errno;
		}
		memcpy(it->key, next, it->key_size);
		it->started = true;
		if (bpf_map_lookup_elem(it->fd, next, val) == 0)
			break;
		if (errno != ENOENT)
			return -errno;
		/* deleted between the two calls: move on */
	}
	memcpy(key, next, it->key_size);
	return 1;
}
