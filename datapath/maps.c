// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Map writers: endpoints, ipcache, policy. The ipcache and policy writers send their keys in
 * batches (batch.c: many per syscall where the kernel takes them, which 6.x does for LPM
 * tries too); the first failure stops the call and is reported with the map, the entry and,
 * when the map is full, its capacity.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "batch.h"
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

/* keys per write call: the kernel takes them in batches of up to this many (batch.c) */
#define PW_WRITE_CHUNK 8192

static struct pw_batch_map batch_map(struct pw_dp *dp, enum pw_dp_map m, size_t ksz, size_t vsz)
{
	return (struct pw_batch_map){ .fd = pw_dp_map_fd(dp, m), .key_size = ksz,
				      .value_size = vsz, .batch_off = &dp->batch_off[m] };
}

void pw_dp_set_write_batches(struct pw_dp *dp, bool on)
{
	for (int m = 0; dp && m < PW_DPMAP_COUNT; m++)
		dp->batch_off[m] = !on;
}

int pw_dp_ipcache_update(struct pw_dp *dp, const struct pw_ipcache_entry *e, size_t n)
{
	struct pw_batch_map bm;
	size_t cap = n < PW_WRITE_CHUNK ? n : PW_WRITE_CHUNK, i, c, failed;
	struct pw_ipcache_key *keys = NULL;
	struct pw_ipcache_val *vals = NULL;
	char cb[64], what[128];
	int err = 0;

	if (pw_dp_map_fd(dp, PW_DPMAP_IPCACHE) < 0 || (n && !e))
		return -EINVAL;
	if (!n)
		return 0;
	bm = batch_map(dp, PW_DPMAP_IPCACHE, sizeof(*keys), sizeof(*vals));
	keys = calloc(cap, sizeof(*keys));
	vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i += c) {
		for (c = 0; c < cap && i + c < n; c++) {
			err = ipcache_key(&e[i + c].cidr, &keys[c]);
			if (err) {
				pw_err(dp, "ipcache entry %zu: invalid CIDR (family %u, /%u)", i + c,
				       e[i + c].cidr.family, e[i + c].cidr.prefixlen);
				goto out;
			}
			vals[c] = e[i + c].val;
		}
		err = pw_batch_update(&bm, keys, vals, c, &failed);
		if (err) {
			const struct pw_ipcache_entry *f = &e[i + failed];

			snprintf(what, sizeof(what), "%s -> identity %u (entry %zu of %zu)",
				 pw_cidr_format(&f->cidr, cb, sizeof(cb)), f->val.identity, i + failed,
				 n);
			err = pw_dp_write_err(dp, PW_DPMAP_IPCACHE, err, "add", what);
			goto out;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

int pw_dp_ipcache_delete(struct pw_dp *dp, const struct pw_cidr *c, size_t n)
{
	struct pw_batch_map bm;
	size_t cap = n < PW_WRITE_CHUNK ? n : PW_WRITE_CHUNK, i, k, failed, deleted;
	struct pw_ipcache_key *keys = NULL;
	char cb[64];
	int err = 0;

	if (pw_dp_map_fd(dp, PW_DPMAP_IPCACHE) < 0 || (n && !c))
		return -EINVAL;
	if (!n)
		return 0;
	bm = batch_map(dp, PW_DPMAP_IPCACHE, sizeof(*keys), 0);
	keys = calloc(cap, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i += k) {
		for (k = 0; k < cap && i + k < n; k++) {
			err = ipcache_key(&c[i + k], &keys[k]);
			if (err)
				goto out;
		}
		/* deleting what is absent is fine: reconciliation may repeat itself */
		err = pw_batch_delete(&bm, keys, k, &deleted, &failed);
		if (err) {
			err = pw_dp_write_err(dp, PW_DPMAP_IPCACHE, err, "delete",
					      pw_cidr_format(&c[i + failed], cb, sizeof(cb)));
			goto out;
		}
	}
out:
	free(keys);
	return err;
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

/*
 * The trie keys of entries e[0..n), a chunk at a time: each entry's port range expands to
 * its prefixes, all with the entry's value; owner[k] is the entry key k came from, so a
 * failed key is reported as the entry the caller wrote.
 */
struct pol_chunk {
	struct pw_policy_key *keys;
	struct pw_policy_val *vals;
	uint32_t *owner;
	size_t n, cap;
};

static int pol_chunk_alloc(struct pol_chunk *ch, size_t n_entries)
{
	size_t want = n_entries * PW_POLICY_MAX_PREFIXES;

	ch->n = 0;
	ch->cap = want < PW_WRITE_CHUNK ? want : PW_WRITE_CHUNK;
	ch->keys = calloc(ch->cap, sizeof(*ch->keys));
	ch->vals = calloc(ch->cap, sizeof(*ch->vals));
	ch->owner = calloc(ch->cap, sizeof(*ch->owner));
	return ch->keys && ch->vals && ch->owner ? 0 : -ENOMEM;
}

static void pol_chunk_free(struct pol_chunk *ch)
{
	free(ch->keys);
	free(ch->vals);
	free(ch->owner);
}

/* flush: write (vals) or delete (!vals) the chunk's keys; total counts what was done */
static int pol_chunk_flush(struct pw_dp *dp, struct pol_chunk *ch, const struct pw_policy_entry *e,
			   bool del, int *total)
{
	struct pw_batch_map bm = batch_map(dp, PW_DPMAP_POLICY, sizeof(*ch->keys),
					   sizeof(*ch->vals));
	size_t failed, done;
	char what[160];
	int err;

	if (!ch->n)
		return 0;
	if (del) {
		err = pw_batch_delete(&bm, ch->keys, ch->n, &done, &failed);
	} else {
		err = pw_batch_update(&bm, ch->keys, ch->vals, ch->n, &failed);
		done = err ? failed : ch->n;
	}
	*total += (int)done;
	if (err) {
		policy_str(&e[ch->owner[failed]], what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_POLICY, err, del ? "delete" : "add", what);
	}
	ch->n = 0;
	return 0;
}

static int policy_write(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n, bool del)
{
	struct pw_policy_key keys[PW_POLICY_MAX_PREFIXES];
	struct pol_chunk ch = { 0 };
	int i, cnt, err, total = 0;
	char what[160];
	size_t j;

	if (pw_dp_map_fd(dp, PW_DPMAP_POLICY) < 0 || (n && !e))
		return -EINVAL;
	if (!n)
		return 0;
	err = pol_chunk_alloc(&ch, n);
	if (err)
		goto out;
	for (j = 0; j < n; j++) {
		cnt = pw_policy_expand(&e[j], keys, PW_POLICY_MAX_PREFIXES);
		if (cnt < 0) {
			policy_str(&e[j], what, sizeof(what));
			pw_err(dp, "invalid policy entry %zu: %s", j, what);
			err = cnt;
			goto out;
		}
		if (ch.n + (size_t)cnt > ch.cap) {
			err = pol_chunk_flush(dp, &ch, e, del, &total);
			if (err)
				goto out;
		}
		for (i = 0; i < cnt; i++) {
			ch.keys[ch.n] = keys[i];
			ch.vals[ch.n] = e[j].val;
			ch.owner[ch.n++] = (uint32_t)j;
		}
	}
	err = pol_chunk_flush(dp, &ch, e, del, &total);
out:
	pol_chunk_free(&ch);
	return err ? err : total;
}

int pw_dp_policy_update(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n)
{
	return policy_write(dp, e, n, false);
}

int pw_dp_policy_delete(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n)
{
	return policy_write(dp, e, n, true);
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
/*
 * Every endpoint of map m (keys packed at key_size, values) read in a few syscalls
 * (BPF_MAP_LOOKUP_BATCH). -EOPNOTSUPP (or another error): the caller walks the map instead.
 */
static int ep_read_batch(int fd, size_t key_size, size_t cap, void *keys, struct pw_endpoint *vals,
			 size_t *n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o);
	uint64_t in_tok = 0, out_tok = 0;
	size_t total = 0;

	for (;;) {
		__u32 cnt = (__u32)(cap - total);
		int err;

		if (!cnt)
			break;
		err = bpf_map_lookup_batch(fd, total ? &in_tok : NULL, &out_tok,
					   (char *)keys + total * key_size, &vals[total], &cnt, &o);
		if (err && errno != ENOENT)
			return -errno;
		total += cnt;
		if (err)
			break; /* ENOENT: the whole map is read */
		in_tok = out_tok;
	}
	*n = total;
	return 0;
}

/* The same, one key at a time: get_next_key, then a lookup per key. */
static int ep_read_walk(int fd, size_t key_size, size_t cap, void *keys, struct pw_endpoint *vals,
			size_t *n)
{
	uint64_t next = 0;
	size_t got = 0, i;
	void *prev = NULL;

	/* keys first: an update moves its element to the head of its bucket, so updating
	 * while walking revisits colliding keys forever */
	while (got < cap && bpf_map_get_next_key(fd, prev, &next) == 0) {
		memcpy((char *)keys + got * key_size, &next, key_size);
		prev = (char *)keys + got++ * key_size;
		next = 0;
	}
	*n = 0;
	for (i = 0; i < got; i++) {
		void *k = (char *)keys + i * key_size;

		if (bpf_map_lookup_elem(fd, k, &vals[*n]))
			continue; /* gone meanwhile */
		memmove((char *)keys + *n * key_size, k, key_size);
		(*n)++;
	}
	return 0;
}

static int bump_map(struct pw_dp *dp, enum pw_dp_map m, uint32_t ep_id)
{
	int fd = pw_dp_map_fd(dp, m);
	size_t cap = bpf_map__max_entries(pw_dp_map(dp, m)), n = 0, i, k = 0;
	size_t key_size = bpf_map__key_size(pw_dp_map(dp, m));
	struct pw_endpoint *vals = calloc(cap ? cap : 1, sizeof(*vals));
	char *keys = calloc(cap ? cap : 1, key_size);
	int err = 0;

	if (!keys || !vals || key_size > sizeof(uint64_t)) {
		err = keys && vals ? -EINVAL : -ENOMEM;
		goto out;
	}
	/*
	 * Read in batches (a bump of 500 endpoints was 1,500 syscalls per map), walking only
	 * where batches are refused.
	 */
	if (dp->batch_off[m] || ep_read_batch(fd, key_size, cap, keys, vals, &n))
		ep_read_walk(fd, key_size, cap, keys, vals, &n);
	/* the endpoints to bump, packed at the front */
	for (i = 0; i < n; i++) {
		if (ep_id && vals[i].ep_id != ep_id)
			continue;
		vals[i].policy_gen++;
		if (k != i) {
			memcpy(keys + k * key_size, keys + i * key_size, key_size);
			vals[k] = vals[i];
		}
		k++;
	}
	/*
	 * Written back in batches too (500 endpoints: one syscall, not 500; a label change bumps
	 * them all). The kernel's batch takes no BPF_EXIST, which once kept an endpoint deleted
	 * meanwhile from coming back: only the control plane writes these maps, from one thread,
	 * and it deletes none between this read and this write.
	 */
	if (k) {
		struct pw_batch_map bm = batch_map(dp, m, key_size, sizeof(*vals));
		size_t failed = 0;

		err = pw_batch_update(&bm, keys, vals, k, &failed);
		if (err)
			pw_err(dp, "map %s: cannot bump the policy generation of endpoint %u: %s",
			       pw_dp_map_name(m), vals[failed < k ? failed : 0].ep_id, strerror(-err));
	}
out:
	free(keys);
	free(vals);
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

/* One map's entry of ep, by its key there: 0, or -ENOENT when that map does not hold it. */
static int bump_key(struct pw_dp *dp, enum pw_dp_map m, const void *key, uint32_t ep_id)
{
	int fd = pw_dp_map_fd(dp, m), err;
	struct pw_endpoint v;

	if (bpf_map_lookup_elem(fd, key, &v))
		return -ENOENT;
	if (v.ep_id != ep_id)
		return -ENOENT;
	v.policy_gen++;
	if (bpf_map_update_elem(fd, key, &v, BPF_EXIST) && errno != ENOENT) {
		err = -errno;
		pw_err(dp, "map %s: cannot bump the policy generation of endpoint %u: %s",
		       pw_dp_map_name(m), ep_id, strerror(-err));
		return err;
	}
	return 0;
}

int pw_dp_bump_endpoint(struct pw_dp *dp, const struct pw_endpoint *ep)
{
	int err = 0;

	if (!dp || !ep)
		return -EINVAL;
	if (ep->ifindex)
		err = bump_key(dp, PW_DPMAP_EP_IF, &ep->ifindex, ep->ep_id);
	if (err != -ENOENT && err)
		return err;
	if (ep->cgroup_id) {
		err = bump_key(dp, PW_DPMAP_EP_CG, &ep->cgroup_id, ep->ep_id);
		if (err != -ENOENT && err)
			return err;
	}
	return 0;
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
