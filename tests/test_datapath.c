// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tests of the datapath library against the real kernel: parsing and expansion tables, map
 * writers, pin and adopt, TC attach in tcx and clsact modes inside a private network
 * namespace, socket programs at a test cgroup, conntrack sweep, metrics and events.
 *
 * Every run names its bpffs dir, cgroup and interfaces with its pid; the fixture teardown
 * removes them whether the test passed or failed (cmocka runs teardown after a failed
 * assertion too).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <podwall/datapath.h>

#define TCX_INGRESS ((enum bpf_attach_type)46)
#define TCX_EGRESS  ((enum bpf_attach_type)47)
#define NS	    1000000000ull

/* --- log capture ------------------------------------------------------------------------- */

/* big enough for libbpf's debug output of several loads */
static char logbuf[4 << 20];

static void test_log(void *ctx, enum pw_log_level level, const char *msg)
{
	size_t n = strlen(logbuf);

	snprintf(logbuf + n, sizeof(logbuf) - n, "[%d] %s\n", level, msg);
	if (getenv("PW_TEST_VERBOSE"))
		fprintf(stderr, "[%d] %s\n", level, msg);
}

static void opts_init(struct pw_dp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->log = test_log;
	o->log_level = PW_LOG_DEBUG;
	/* small maps keep the tests fast and let them fill a map */
	o->ipcache_max = 1024;
	o->policy_max = 1024;
	o->ep_max = 64;
	o->ct_max = 1024;
}

/* --- fixture: everything a test may create, removed on every path ------------------------- */

struct fx {
	struct pw_dp *dp;
	char bpffs[128];
	char cgroup[320];
	int orig_netns;	      /* >= 0 while the test runs in a private netns */
	char own_parent[128]; /* a non-bpffs parent dir the library mounts bpffs below */
	bool pinned;	      /* the test runs on CPU 0 only; saved_cpus restores it */
	cpu_set_t saved_cpus;
};

static void rm_tree(const char *path)
{
	struct dirent *de;
	char sub[512];
	struct stat st;
	DIR *d;

	if (lstat(path, &st))
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d) {
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_tree(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->orig_netns = -1;
	snprintf(f->bpffs, sizeof(f->bpffs), "/sys/fs/bpf/podwall-test-%d", getpid());
	logbuf[0] = '\0';
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f->dp)
		pw_dp_destroy(f->dp);
	/* whatever destroy could not remove (a test failed before opening, say) */
	rm_tree(f->bpffs);
	if (f->cgroup[0])
		rmdir(f->cgroup);
	if (f->own_parent[0]) {
		char dir[200];
		struct statfs sfs;

		snprintf(dir, sizeof(dir), "%s/bpffs", f->own_parent);
		if (statfs(dir, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC) {
			rm_tree(dir); /* unlink the pins inside, then the mount itself */
			umount2(dir, MNT_DETACH);
		}
		rm_tree(f->own_parent);
	}
	if (f->pinned)
		sched_setaffinity(0, sizeof(f->saved_cpus), &f->saved_cpus);
	if (f->orig_netns >= 0) {
		/* leaving the private netns drops its last reference: its veths go with it */
		setns(f->orig_netns, CLONE_NEWNET);
		close(f->orig_netns);
	}
	free(f);
	return 0;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.id;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* --- CIDR parsing ------------------------------------------------------------------------- */

static void test_cidr_parse(void **state)
{
	static const struct {
		const char *in;
		int err;
		uint8_t family, prefixlen;
		const char *addr;
	} t[] = {
		{"198.18.0.1", 0, PW_FAMILY_V4, 32, "198.18.0.1"},
		{"198.18.0.0/15", 0, PW_FAMILY_V4, 15, "198.18.0.0"},
		{"0.0.0.0/0", 0, PW_FAMILY_V4, 0, "0.0.0.0"},
		{"198.18.0.1/32", 0, PW_FAMILY_V4, 32, "198.18.0.1"},
		{"fd00::1", 0, PW_FAMILY_V6, 128, "fd00::1"},
		{"fd00::/8", 0, PW_FAMILY_V6, 8, "fd00::"},
		{"fd00:1:2::/48", 0, PW_FAMILY_V6, 48, "fd00:1:2::"},
		{"::/0", 0, PW_FAMILY_V6, 0, "::"},
		{"198.18.0.1/33", -EINVAL},
		{"198.18.0.1/15", -EINVAL}, /* host bits set */
		{"fd00::1/64", -EINVAL},    /* host bits set */
		{"fd00::/129", -EINVAL},
		{"198.18.0.0/", -EINVAL},
		{"198.18.0.0/+8", -EINVAL},
		{"198.18.0.0/8x", -EINVAL},
		{"198.18.0.0/0008", -EINVAL},
		{"198.18.0", -EINVAL},
		{"198.18.0.256", -EINVAL},
		{"garbage", -EINVAL},
		{"", -EINVAL},
		{"/8", -EINVAL},
		{" 198.18.0.1", -EINVAL},
		{"fd00:::1", -EINVAL},
	};
	struct pw_cidr c, want;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int err = pw_cidr_parse(t[i].in, &c);

		if (err != t[i].err)
			fail_msg("pw_cidr_parse(\"%s\") = %d, want %d", t[i].in, err, t[i].err);
		if (err)
			continue;
		memset(&want, 0, sizeof(want));
		inet_pton(t[i].family == PW_FAMILY_V4 ? AF_INET : AF_INET6, t[i].addr, want.addr);
		assert_int_equal(c.family, t[i].family);
		assert_int_equal(c.prefixlen, t[i].prefixlen);
		assert_memory_equal(c.addr, want.addr, sizeof(c.addr));
	}
	assert_int_equal(pw_cidr_parse(NULL, &c), -EINVAL);
}

static void test_cidr_format(void **state)
{
	static const char *const t[] = {"198.18.0.1/32", "198.18.0.0/15", "fd00::/8", "fd00::1/128",
					"0.0.0.0/0"};
	struct pw_cidr c;
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(pw_cidr_parse(t[i], &c), 0);
		assert_string_equal(pw_cidr_format(&c, buf, sizeof(buf)), t[i]);
	}
	c.family = 9;
	assert_string_equal(pw_cidr_format(&c, buf, sizeof(buf)), "<invalid>");
}

/* --- policy expansion --------------------------------------------------------------------- */

/* Reference: the canonical split of the port space into aligned blocks (minimal). */
static int ref_prefixes(uint32_t lo, uint32_t hi, uint32_t a, uint32_t b)
{
	uint32_t m;

	if (hi < a || lo > b)
		return 0;
	if (lo <= a && b <= hi)
		return 1;
	m = a + (b - a) / 2;
	return ref_prefixes(lo, hi, a, m) + ref_prefixes(lo, hi, m + 1, b);
}

static void test_policy_expand(void **state)
{
	static const struct {
		uint8_t proto;
		uint16_t lo, hi;
		int count;
	} t[] = {
		{IPPROTO_TCP, 80, 80, 1},
		{IPPROTO_TCP, 0, 65535, 1},
		{0, 80, 80, 1},
		{0, 0, 65535, 1},
		{IPPROTO_TCP, 1000, 2000, 8},
		{IPPROTO_UDP, 1, 65535, 16},
		{IPPROTO_TCP, 32768, 32769, 1},
		{IPPROTO_TCP, 0, 0, 1},
		{IPPROTO_TCP, 65535, 65535, 1},
		{IPPROTO_TCP, 1024, 65535, 6},
		{IPPROTO_TCP, 1, 65534, 30},
		{IPPROTO_TCP, 32767, 32768, 2},
	};
	static unsigned char covered[65536];
	struct pw_policy_key keys[32];
	size_t i;
	int n, j;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pw_policy_entry e = {
			.subject = 0x01020304,
			.peer = 0x0a0b0c0d,
			.direction = PW_DIR_EGRESS,
			.proto = t[i].proto,
			.port_lo = t[i].lo,
			.port_hi = t[i].hi,
		};

		n = pw_policy_expand(&e, keys, 32);
		if (n != t[i].count)
			fail_msg("proto %u [%u,%u]: %d prefixes, want %d", t[i].proto, t[i].lo,
				 t[i].hi, n, t[i].count);
		if (t[i].proto)
			assert_int_equal(n, ref_prefixes(t[i].lo, t[i].hi, 0, 65535));
		memset(covered, 0, sizeof(covered));
		for (j = 0; j < n; j++) {
			unsigned int bits, p, size, start;

			/* subject and peer in network order: the trie compares bytes */
			assert_int_equal(keys[j].subject, htonl(0x01020304));
			assert_int_equal(keys[j].peer, htonl(0x0a0b0c0d));
			assert_int_equal(keys[j].direction, PW_DIR_EGRESS);
			assert_int_equal(keys[j].proto, t[i].proto);
			if (!t[i].proto) {
				assert_int_equal(keys[j].prefixlen, PW_POLICY_BITS_ANY_PROTO);
				assert_int_equal(keys[j].dport, 0);
				continue;
			}
			assert_in_range(keys[j].prefixlen, PW_POLICY_BITS_PROTO,
					PW_POLICY_BITS_FULL);
			bits = keys[j].prefixlen - PW_POLICY_BITS_PROTO;
			size = 1u << (16 - bits);
			start = ntohs(keys[j].dport);
			assert_int_equal(start & (size - 1), 0); /* no bits past the prefix */
			for (p = start; p < start + size; p++) {
				assert_int_equal(covered[p], 0); /* no overlaps */
				covered[p] = 1;
			}
		}
		if (t[i].proto) {
			unsigned int p;

			for (p = 0; p < 65536; p++)
				assert_int_equal(covered[p], p >= t[i].lo && p <= t[i].hi);
		}
	}
	{
		struct pw_policy_entry e = {
			.subject = 300, .proto = 6, .port_lo = 1, .port_hi = 65534};
		struct pw_policy_entry bad = {
			.subject = 300, .proto = 6, .port_lo = 9, .port_hi = 8};

		assert_int_equal(pw_policy_expand(&e, keys, 29), -ENOSPC);
		assert_int_equal(pw_policy_expand(&bad, keys, 32), -EINVAL);
		bad.port_lo = 1;
		bad.direction = PW_DIR_MAX;
		assert_int_equal(pw_policy_expand(&bad, keys, 32), -EINVAL);
	}
}

/* --- writers (nothing pinned) ------------------------------------------------------------- */

static void cidr(const char *s, struct pw_cidr *c)
{
	assert_int_equal(pw_cidr_parse(s, c), 0);
}

static int policy_lookup(struct pw_dp *dp, uint32_t subject, uint32_t peer, uint8_t dir,
			 uint8_t proto, uint16_t port, struct pw_policy_val *v)
{
	struct pw_policy_key k = {
		.prefixlen = PW_POLICY_BITS_FULL,
		.subject = htonl(subject),
		.peer = htonl(peer),
		.direction = dir,
		.proto = proto,
		.dport = htons(port),
	};

	return bpf_map_lookup_elem(pw_dp_map_fd(dp, PW_DPMAP_POLICY), &k, v) ? -errno : 0;
}

static void test_writers(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_ipcache_entry ie[3] = {};
	struct pw_ipcache_val v;
	struct pw_cidr c;
	struct pw_policy_val pv;
	struct pw_endpoint ep = {}, got;
	struct pw_ipcache_key raw = {};
	struct pw_policy_entry pe[2] = {
		{.subject = 300,
		 .peer = 400,
		 .direction = PW_DIR_INGRESS,
		 .proto = IPPROTO_TCP,
		 .port_lo = 1000,
		 .port_hi = 2000,
		 .val = {PW_POL_F_ALLOW, 77}},
		{.subject = 301,
		 .peer = PW_ID_ANY,
		 .direction = PW_DIR_EGRESS,
		 .proto = 0,
		 .val = {PW_POL_F_ALLOW, 78}},
	};

	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_false(pw_dp_adopted(f->dp));

	/* ipcache: a /15 and a /32 inside it; exact-prefix get */
	cidr("198.18.0.0/15", &ie[0].cidr);
	ie[0].val.identity = PW_ID_CIDR_FLAG | 5;
	cidr("198.18.0.7", &ie[1].cidr);
	ie[1].val.identity = 300;
	ie[1].val.cidr_identity = PW_ID_CIDR_FLAG | 5;
	cidr("fd00::7", &ie[2].cidr);
	ie[2].val.identity = 300;
	assert_int_equal(pw_dp_ipcache_update(f->dp, ie, 3), 0);
	assert_int_equal(pw_dp_ipcache_get(f->dp, &ie[1].cidr, &v), 0);
	assert_int_equal(v.identity, 300);
	assert_int_equal(v.cidr_identity, PW_ID_CIDR_FLAG | 5);
	assert_int_equal(pw_dp_ipcache_get(f->dp, &ie[0].cidr, &v), 0);
	assert_int_equal(v.identity, PW_ID_CIDR_FLAG | 5);
	/* covered by the /15 but not present itself */
	cidr("198.18.0.8", &c);
	assert_int_equal(pw_dp_ipcache_get(f->dp, &c, &v), -ENOENT);
	cidr("fd00::8", &c);
	assert_int_equal(pw_dp_ipcache_get(f->dp, &c, &v), -ENOENT);
	/* the key layout the BPF side looks up: prefixlen 32 + /32, family, address */
	raw.prefixlen = PW_IPCACHE_PREFIX_BITS + 32;
	raw.family = PW_FAMILY_V4;
	inet_pton(AF_INET, "198.18.0.8", &raw.addr[0]);
	assert_int_equal(bpf_map_lookup_elem(pw_dp_map_fd(f->dp, PW_DPMAP_IPCACHE), &raw, &v), 0);
	assert_int_equal(v.identity, PW_ID_CIDR_FLAG | 5); /* longest match: the /15 */
	/* host bits of a hand-built CIDR are masked, not stored */
	c = ie[0].cidr;
	c.addr[0] |= htonl(0x00000101);
	assert_int_equal(pw_dp_ipcache_get(f->dp, &c, &v), 0);
	assert_int_equal(pw_dp_ipcache_delete(f->dp, &ie[1].cidr, 1), 0);
	assert_int_equal(pw_dp_ipcache_get(f->dp, &ie[1].cidr, &v), -ENOENT);
	assert_int_equal(pw_dp_ipcache_delete(f->dp, &ie[1].cidr, 1), 0); /* idempotent */
	c.family = 5;
	assert_int_equal(pw_dp_ipcache_delete(f->dp, &c, 1), -EINVAL);

	/* policy: 8 prefixes for [1000,2000] + 1 any-protocol entry */
	assert_int_equal(pw_dp_policy_update(f->dp, pe, 2), 9);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_INGRESS, IPPROTO_TCP, 1000, &pv), 0);
	assert_int_equal(pv.cookie, 77);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_INGRESS, IPPROTO_TCP, 2000, &pv), 0);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_INGRESS, IPPROTO_TCP, 999, &pv),
			 -ENOENT);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_INGRESS, IPPROTO_TCP, 2001, &pv),
			 -ENOENT);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_INGRESS, IPPROTO_UDP, 1500, &pv),
			 -ENOENT);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_EGRESS, IPPROTO_TCP, 1500, &pv),
			 -ENOENT);
	assert_int_equal(policy_lookup(f->dp, 301, 0, PW_DIR_EGRESS, IPPROTO_UDP, 53, &pv), 0);
	assert_int_equal(pv.cookie, 78);
	assert_int_equal(pw_dp_policy_delete(f->dp, pe, 1), 8);
	assert_int_equal(policy_lookup(f->dp, 300, 400, PW_DIR_INGRESS, IPPROTO_TCP, 1500, &pv),
			 -ENOENT);
	pe[0].port_lo = 3000; /* invalid: lo > hi */
	assert_int_equal(pw_dp_policy_update(f->dp, pe, 1), -EINVAL);

	/* endpoints: both maps, replace in place, bump, delete */
	ep.ep_id = 11;
	ep.identity = 300;
	ep.ifindex = 4242;
	ep.cgroup_id = 987654321;
	ep.n_v4 = 1;
	inet_pton(AF_INET, "198.18.0.7", &ep.v4[0]);
	ep.pad[0] = 0xff; /* writers zero pads */
	assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), 0);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4242, &got), 0);
	assert_int_equal(got.ep_id, 11);
	assert_int_equal(got.pad[0], 0);
	assert_int_equal(
		bpf_map_lookup_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EP_CG), &ep.cgroup_id, &got), 0);
	assert_int_equal(got.identity, 300);
	ep.identity = 301;
	ep.pad[0] = 0;
	assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), 0);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4242, &got), 0);
	assert_int_equal(got.identity, 301);
	{
		struct pw_endpoint other = ep;

		other.ep_id = 12;
		other.ifindex = 4243;
		other.cgroup_id = 987654322;
		assert_int_equal(pw_dp_endpoint_upsert(f->dp, &other), 0);
		assert_int_equal(pw_dp_bump_generation(f->dp, 11), 0);
		assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4242, &got), 0);
		assert_int_equal(got.policy_gen, 1);
		assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4243, &got), 0);
		assert_int_equal(got.policy_gen, 0);
		assert_int_equal(pw_dp_bump_generation(f->dp, 0), 0);
		assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4242, &got), 0);
		assert_int_equal(got.policy_gen, 2);
		assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4243, &got), 0);
		assert_int_equal(got.policy_gen, 1);
		assert_int_equal(bpf_map_lookup_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EP_CG),
						     &other.cgroup_id, &got),
				 0);
		assert_int_equal(got.policy_gen, 1);
		assert_int_equal(pw_dp_endpoint_delete(f->dp, &other), 0);
	}
	assert_int_equal(pw_dp_endpoint_delete(f->dp, &ep), 0);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 4242, &got), -ENOENT);
	assert_int_equal(
		bpf_map_lookup_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EP_CG), &ep.cgroup_id, &got),
		-ENOENT);
	ep.ifindex = 0;
	ep.cgroup_id = 0;
	assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), -EINVAL);
}

/* A full map is reported with its name and capacity. */
static void test_map_full(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_endpoint ep = {.ep_id = 1, .identity = 300};
	struct pw_ipcache_entry ie[5] = {};
	char s[32];
	int i, err;

	opts_init(&o);
	o.ep_max = 2;
	o.ipcache_max = 4;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	for (i = 0; i < 3; i++) {
		ep.ifindex = 100 + i;
		err = pw_dp_endpoint_upsert(f->dp, &ep);
		if (i < 2)
			assert_int_equal(err, 0);
		else
			assert_int_equal(err, -E2BIG);
	}
	assert_non_null(strstr(logbuf, "map " PW_STR(PW_MAP_EP_IF) " is full (capacity 2 entries)"));
	for (i = 0; i < 5; i++) {
		snprintf(s, sizeof(s), "198.18.1.%d", i);
		cidr(s, &ie[i].cidr);
		ie[i].val.identity = 300 + i;
	}
	assert_int_equal(pw_dp_ipcache_update(f->dp, ie, 5), -ENOSPC);
	assert_non_null(strstr(logbuf, "map pw_ipcache_v1 is full (capacity 4 entries)"));
	assert_non_null(strstr(logbuf, "198.18.1.4/32"));
}

/* --- pin and adopt ------------------------------------------------------------------------ */

static void test_pin_adopt(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_ipcache_entry ie = {};
	struct pw_ipcache_val v;
	struct pw_endpoint ep = {.ep_id = 5, .identity = 300, .ifindex = 777}, got;
	struct pw_policy_entry pe = {.subject = 300,
				     .peer = 400,
				     .proto = IPPROTO_UDP,
				     .port_lo = 53,
				     .port_hi = 53,
				     .val = {PW_POL_F_ALLOW, 9}};
	struct pw_policy_val pv;
	struct pw_map_usage u;
	struct statfs sfs;
	char path[256];

	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	o.ct_max = 2048;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_false(pw_dp_adopted(f->dp));
	assert_int_equal(statfs(f->bpffs, &sfs), 0);
	assert_true(sfs.f_type == BPF_FS_MAGIC);
	snprintf(path, sizeof(path), "%s/maps/pw_policy_v1", f->bpffs);
	assert_true(exists(path));
	snprintf(path, sizeof(path), "%s/maps/pw_events_v1", f->bpffs);
	assert_true(exists(path));

	cidr("198.18.4.0/24", &ie.cidr);
	ie.val.identity = PW_ID_CIDR_FLAG | 1;
	assert_int_equal(pw_dp_ipcache_update(f->dp, &ie, 1), 0);
	assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), 0);
	assert_int_equal(pw_dp_policy_update(f->dp, &pe, 1), 1);
	pw_dp_close(f->dp);
	f->dp = NULL;

	/* a second process (here: a second open) adopts, nothing flushed; capacity 0 follows */
	o.ct_max = 0;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_true(pw_dp_adopted(f->dp));
	assert_int_equal(pw_dp_ipcache_get(f->dp, &ie.cidr, &v), 0);
	assert_int_equal(v.identity, PW_ID_CIDR_FLAG | 1);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 777, &got), 0);
	assert_int_equal(got.ep_id, 5);
	assert_int_equal(policy_lookup(f->dp, 300, 400, 0, IPPROTO_UDP, 53, &pv), 0);
	assert_int_equal(pv.cookie, 9);
	assert_int_equal(pw_dp_map_usage(f->dp, PW_DPMAP_CT, &u), 0);
	assert_int_equal(u.max_entries, 2048);
	assert_string_equal(u.name, "pw_ct_v2");
	/* the socket programs see the same map as the tc programs */
	{
		struct bpf_map_info a = {}, b = {};
		__u32 la = sizeof(a), lb = sizeof(b);
		int fd = bpf_obj_get(path);

		assert_true(fd >= 0);
		assert_int_equal(bpf_obj_get_info_by_fd(fd, &a, &la), 0);
		assert_int_equal(
			bpf_obj_get_info_by_fd(pw_dp_map_fd(f->dp, PW_DPMAP_EVENTS), &b, &lb), 0);
		close(fd);
		assert_int_equal(a.id, b.id);
	}
	pw_dp_close(f->dp);
	f->dp = NULL;

	/* an incompatible pin is refused with the pin and the difference named */
	logbuf[0] = '\0';
	o.ct_max = 4096;
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	assert_null(f->dp);
	snprintf(path, sizeof(path),
		 "pinned map %s/maps/pw_ct_v2 is incompatible: capacity 2048 "
		 "entries, 4096 requested",
		 f->bpffs);
	assert_non_null(strstr(logbuf, path));
	/* the refused open left the pins alone */
	o.ct_max = 0;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_true(pw_dp_adopted(f->dp));
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 777, &got), 0);

	/* destroy removes every pin and the directory */
	assert_int_equal(pw_dp_destroy(f->dp), 0);
	f->dp = NULL;
	assert_false(exists(f->bpffs));
}

/* A pin from an older layout (other value size) is refused, not silently recreated. */
static void test_pin_old_layout(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	char path[256];
	int fd;

	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	pw_dp_close(f->dp);
	f->dp = NULL;
	snprintf(path, sizeof(path), "%s/maps/pw_frag_v1", f->bpffs);
	assert_int_equal(unlink(path), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "pw_frag_v1", sizeof(struct pw_frag_key), 4,
			    PW_FRAG_MAX_DEFAULT, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	logbuf[0] = '\0';
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	assert_non_null(strstr(logbuf, "pw_frag_v1 is incompatible: value size 4, this build "
				       "needs 8"));

	/*
	 * Metrics from before the event loss counters: same key and value, fewer slots. Adopted,
	 * its last slots would never count; the capacity of this map is not the caller's to
	 * choose, so it is checked even with no capacity requested.
	 */
	assert_int_equal(unlink(path), 0); /* the next open gets past the frag map */
	snprintf(path, sizeof(path), "%s/maps/%s", f->bpffs, PW_STR(PW_MAP_METRICS));
	assert_int_equal(unlink(path), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, PW_STR(PW_MAP_METRICS), sizeof(__u32),
			    sizeof(struct pw_metric), PW_METRICS_GRID, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	logbuf[0] = '\0';
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	snprintf(path, sizeof(path),
		 "pinned map %s/maps/%s is incompatible: %u counter slots, this "
		 "build needs %u (old layout: remove the pin)",
		 f->bpffs, PW_STR(PW_MAP_METRICS), PW_METRICS_GRID, PW_METRICS_SLOTS);
	assert_non_null(strstr(logbuf, path));
}

/*
 * An upgrade: the pins of an older build, one of whose maps changed layout and so name
 * (pw_metrics_v1, the grid alone). The new build adopts the rest, puts its programs behind
 * the links, and removes the pin no program uses any more; pins that are not another
 * version of one of its maps stay.
 */
static void test_pin_other_version(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	char v1[256], other[256], want[512];
	struct stat st;
	int fd;

	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	pw_dp_close(f->dp);
	f->dp = NULL;
	snprintf(v1, sizeof(v1), "%s/maps/pw_metrics_v1", f->bpffs);
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "pw_metrics_v1", sizeof(__u32),
			    sizeof(struct pw_metric), PW_METRICS_GRID, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, v1), 0);
	snprintf(other, sizeof(other), "%s/maps/pw_metricsx_v1", f->bpffs);
	assert_int_equal(bpf_obj_pin(fd, other), 0);
	close(fd);

	logbuf[0] = '\0';
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_true(pw_dp_adopted(f->dp));
	assert_int_equal(stat(v1, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(stat(other, &st), 0);
	snprintf(want, sizeof(want), "removed %s: map %s has a new layout", v1,
		 PW_STR(PW_MAP_METRICS));
	assert_non_null(strstr(logbuf, want));
	assert_int_equal(unlink(other), 0); /* not ours: the fixture's cleanup would trip on it */
}

/* --- TC attach in a private network namespace --------------------------------------------- */

static void enter_netns(struct fx *f)
{
	f->orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(f->orig_netns >= 0);
	if (unshare(CLONE_NEWNET)) {
		close(f->orig_netns);
		f->orig_netns = -1;
		fail_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
	}
}

/* a veth pair in the private netns; returns the ifindex of its first end */
static uint32_t make_veth(char *name, size_t len)
{
	char cmd[256];
	uint32_t ifindex = 0;

	snprintf(name, len, "pwt%da", getpid() % 1000000);
	snprintf(cmd, sizeof(cmd),
		 "ip link add %s type veth peer name pwt%db && ip link set %s up && "
		 "ip link set pwt%db up",
		 name, getpid() % 1000000, name, getpid() % 1000000);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(pw_dp_ifindex(name, &ifindex), 0);
	assert_int_equal(ifindex, if_nametoindex(name));
	return ifindex;
}

/*
 * The endpoint maps changed layout (v1 -> v2: the pod's MAC and bridge). Before the new
 * programs go live, every v1 endpoint is carried into v2 with its MAC learned from the veth
 * peer: with empty maps, the new programs would leave every pod unenforced.
 */
static void test_upgrade_endpoints(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_endpoint ep = {.ep_id = 9, .identity = 300, .n_v4 = 1, .v4 = {0x0a0012c6}};
	char ifname[32], v1[2][256], v2[256], cmd[256];
	uint64_t cg = 1234;
	uint32_t ifindex;
	int i, fd[2];

	enter_netns(f);
	ifindex = make_veth(ifname, sizeof(ifname));
	snprintf(cmd, sizeof(cmd), "ip link set pwt%db address 02:00:00:00:99:01",
		 getpid() % 1000000);
	assert_int_equal(system(cmd), 0);
	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	pw_dp_close(f->dp);
	f->dp = NULL;
	/* what the older build pinned: v1 maps holding one endpoint, no v2 maps yet */
	for (i = 0; i < 2; i++) {
		const char *name = i ? "pw_ep_cg_v1" : "pw_ep_if_v1";

		snprintf(v1[i], sizeof(v1[i]), "%s/maps/%s", f->bpffs, name);
		fd[i] = bpf_map_create(BPF_MAP_TYPE_HASH, name, i ? 8 : 4, 112, 16, NULL);
		assert_true(fd[i] >= 0);
		assert_int_equal(bpf_obj_pin(fd[i], v1[i]), 0);
		snprintf(v2, sizeof(v2), "%s/maps/%s", f->bpffs,
			 i ? PW_STR(PW_MAP_EP_CG) : PW_STR(PW_MAP_EP_IF));
		assert_int_equal(unlink(v2), 0);
	}
	ep.ifindex = ifindex;
	ep.cgroup_id = cg;
	assert_int_equal(bpf_map_update_elem(fd[0], &ifindex, &ep, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(fd[1], &cg, &ep, BPF_ANY), 0);
	close(fd[0]);
	close(fd[1]);

	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	memset(&ep, 0, sizeof(ep));
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, ifindex, &ep), 0);
	assert_int_equal(ep.ep_id, 9);
	assert_int_equal(ep.v4[0], 0x0a0012c6);
	assert_memory_equal(ep.mac, "\x02\x00\x00\x00\x99\x01", 6);
	memset(&ep, 0, sizeof(ep));
	assert_int_equal(bpf_map_lookup_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EP_CG), &cg, &ep), 0);
	assert_int_equal(ep.ep_id, 9);
	assert_memory_equal(ep.mac, "\x02\x00\x00\x00\x99\x01", 6);
	/* and the v1 pins, which no program uses any more, are gone */
	assert_false(exists(v1[0]));
	assert_false(exists(v1[1]));
}

/* Flows as the library hands them on: their keys and entries, in the walk's order. */
struct walked {
	int n;
	struct pw_ct_key key[8];
	struct pw_ct_entry val[8];
	int why[8];
};

static void on_walked(void *ctx, const struct pw_ct_key *k, const struct pw_ct_entry *v,
		      enum pw_flow_end_reason why)
{
	struct walked *w = ctx;

	if (w->n < 8) {
		w->key[w->n] = *k;
		w->val[w->n] = *v;
		w->why[w->n] = why;
	}
	w->n++;
}

static int walked_find(const struct walked *w, __be16 sport)
{
	int i;

	for (i = 0; i < w->n && i < 8; i++) {
		if (w->key[i].sport == sport)
			return i;
	}
	return -1;
}

/* what an older build's conntrack held, for test_upgrade_conntrack */
static const struct {
	uint8_t scope, proto, ended, rev;
	const char *src, *dst;
	uint16_t sport, dport;
	uint64_t packets;
} upgrade_flows[] = {
	/* egress to a higher address: v2 keeps its orientation */
	{PW_DIR_EGRESS, IPPROTO_TCP, 0, 0, "198.18.0.1", "198.18.0.2", 40000, 80, 3},
	/* ingress from a higher address: v2 holds it reversed, in the other scope */
	{PW_DIR_INGRESS, IPPROTO_TCP, 0, 1, "198.18.0.2", "198.18.0.1", 40001, 22, 5},
	/* a parked (revoked) flow, reversed too: its record survives the upgrade */
	{PW_DIR_EGRESS, IPPROTO_UDP, 1, 1, "198.18.0.2", "198.18.0.1", 5000, 53, 7},
};

/* upgrade_flows[i]'s key as v1 held it: the flow's own orientation */
static struct pw_ct_key upgrade_flow_key(size_t i)
{
	struct pw_ct_key k = {.ep_id = 7,
			      .scope = upgrade_flows[i].scope,
			      .family = PW_FAMILY_V4,
			      .proto = upgrade_flows[i].proto,
			      .ended = upgrade_flows[i].ended,
			      .sport = htons(upgrade_flows[i].sport),
			      .dport = htons(upgrade_flows[i].dport)};

	inet_pton(AF_INET, upgrade_flows[i].src, &k.saddr[0]);
	inet_pton(AF_INET, upgrade_flows[i].dst, &k.daddr[0]);
	return k;
}

/*
 * Conntrack changed layout (v1 -> v2: one key for both directions of a flow). Before the new
 * programs go live, every v1 flow, parked ones included, is carried into v2 under its new key:
 * a flow lost there would come back mid-stream, its replies judged as flows of their own.
 */
static void test_upgrade_conntrack(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct walked w = {0};
	struct timespec ts;
	char v1[256], v2[256];
	uint64_t now;
	size_t i;
	int fd, j;

	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	pw_dp_close(f->dp);
	f->dp = NULL;
	/* what the older build pinned: pw_ct_v1 holding three flows, no v2 yet */
	snprintf(v1, sizeof(v1), "%s/maps/pw_ct_v1", f->bpffs);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "pw_ct_v1", sizeof(struct pw_ct_key),
			    sizeof(struct pw_ct_entry), 64, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, v1), 0);
	snprintf(v2, sizeof(v2), "%s/maps/%s", f->bpffs, PW_STR(PW_MAP_CT));
	assert_int_equal(unlink(v2), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * NS + ts.tv_nsec;
	for (i = 0; i < sizeof(upgrade_flows) / sizeof(upgrade_flows[0]); i++) {
		struct pw_ct_key k = upgrade_flow_key(i);
		struct pw_ct_entry v = {.created_ns = now,
					.last_seen_ns = now,
					.state = PW_CT_ESTABLISHED,
					.flags = upgrade_flows[i].ended ? PW_CT_F_REVOKED : 0};

		v.packets[0] = upgrade_flows[i].packets;
		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
	}
	close(fd);

	logbuf[0] = '\0';
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_non_null(strstr(logbuf, "upgrade: 3 flows carried from pw_ct_v1 into pw_ct_v2"));
	assert_false(exists(v1));
	/* stored under the new keys: the reversed ones flipped and marked */
	fd = pw_dp_map_fd(f->dp, PW_DPMAP_CT);
	for (i = 0; i < sizeof(upgrade_flows) / sizeof(upgrade_flows[0]); i++) {
		struct pw_ct_key k = upgrade_flow_key(i);
		struct pw_ct_entry v;

		assert_int_equal(pw_ct_key_is_rev(&k), upgrade_flows[i].rev);
		if (upgrade_flows[i].rev)
			pw_ct_key_flip(&k);
		assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
		assert_int_equal(!!(v.flags & PW_CT_F_SWAPPED), upgrade_flows[i].rev);
		assert_int_equal(v.packets[0], upgrade_flows[i].packets);
	}
	/* and handed on as they went: the parked one by the sweep, the live ones by a flush */
	assert_int_equal(pw_dp_ct_sweep(f->dp, now, NULL, on_walked, &w, NULL), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.why[0], PW_END_REVOKED);
	assert_int_equal(w.key[0].scope, PW_DIR_EGRESS);
	assert_int_equal(w.key[0].sport, htons(5000));
	assert_int_equal(w.key[0].ended, 0);
	assert_int_equal(w.val[0].flags & PW_CT_F_SWAPPED, 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(pw_dp_ct_flush(f->dp, 7, on_walked, &w), 0);
	assert_int_equal(w.n, 2);
	j = walked_find(&w, htons(40001));
	assert_true(j >= 0);
	assert_int_equal(w.key[j].scope, PW_DIR_INGRESS);
	assert_int_equal(w.key[j].dport, htons(22));
	assert_int_equal(w.val[j].packets[0], 5);
	assert_int_equal(w.val[j].flags & PW_CT_F_SWAPPED, 0);
	j = walked_find(&w, htons(40000));
	assert_true(j >= 0);
	assert_int_equal(w.key[j].scope, PW_DIR_EGRESS);
	assert_int_equal(w.key[j].dport, htons(80));
}

static int tcx_query(uint32_t ifindex, enum bpf_attach_type t, __u32 *ids, __u32 *cnt)
{
	__u32 flags = 0;

	*cnt = 4;
	return bpf_prog_query(ifindex, t, 0, &flags, ids, cnt) ? -errno : 0;
}

static void assert_tcx(uint32_t ifindex, __u32 want_in, __u32 want_eg)
{
	__u32 ids[4], cnt;

	assert_int_equal(tcx_query(ifindex, TCX_INGRESS, ids, &cnt), 0);
	assert_int_equal(cnt, want_in ? 1 : 0);
	if (want_in)
		assert_int_equal(ids[0], want_in);
	assert_int_equal(tcx_query(ifindex, TCX_EGRESS, ids, &cnt), 0);
	assert_int_equal(cnt, want_eg ? 1 : 0);
	if (want_eg)
		assert_int_equal(ids[0], want_eg);
}

static void test_tc_tcx(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	char ifname[32], path[256];
	uint32_t ifindex;
	__u32 in1, eg1, in2, eg2;

	enter_netns(f);
	ifindex = make_veth(ifname, sizeof(ifname));
	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	o.tc_mode = PW_TC_TCX;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_string_equal(pw_dp_tc_mode_name(f->dp), "tcx");
	in1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_INGRESS));
	eg1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_EGRESS));
	assert_true(in1 && eg1 && in1 != eg1);

	assert_tcx(ifindex, 0, 0);
	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_tcx(ifindex, in1, eg1);
	snprintf(path, sizeof(path), "%s/links/tc_%u_ingress", f->bpffs, ifindex);
	assert_true(exists(path));
	/* again: replaced in place, not stacked */
	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_tcx(ifindex, in1, eg1);

	/* survives the process's handles */
	pw_dp_close(f->dp);
	f->dp = NULL;
	assert_tcx(ifindex, in1, eg1);

	/* a new open swaps the freshly loaded programs into the pinned links */
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	in2 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_INGRESS));
	eg2 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_EGRESS));
	assert_true(in2 != in1 && eg2 != eg1);
	assert_tcx(ifindex, in2, eg2);

	/* detach, attach, then destroy removes links and pins */
	assert_int_equal(pw_dp_detach_tc(f->dp, ifindex), 0);
	assert_tcx(ifindex, 0, 0);
	assert_false(exists(path));
	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_tcx(ifindex, in2, eg2);
	assert_int_equal(pw_dp_destroy(f->dp), 0);
	f->dp = NULL;
	assert_tcx(ifindex, 0, 0);
	assert_false(exists(f->bpffs));

	/* without a bpffs dir the links live as long as the pw_dp */
	o.bpffs_dir = NULL;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	in1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_INGRESS));
	eg1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_EGRESS));
	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_tcx(ifindex, in1, eg1);
	pw_dp_close(f->dp);
	f->dp = NULL;
	assert_tcx(ifindex, 0, 0);
}

static __u32 clsact_prog(uint32_t ifindex, enum bpf_tc_attach_point pt)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = pt);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, q, .handle = 0x7077, .priority = 1);

	return bpf_tc_query(&hook, &q) ? 0 : q.prog_id;
}

static void test_tc_clsact(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_endpoint ep = {.ep_id = 3, .identity = 300};
	char ifname[32];
	uint32_t ifindex;
	__u32 in1, eg1, ids[4], cnt;

	enter_netns(f);
	ifindex = make_veth(ifname, sizeof(ifname));
	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	o.tc_mode = PW_TC_CLSACT;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_string_equal(pw_dp_tc_mode_name(f->dp), "clsact");
	in1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_INGRESS));
	eg1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_EGRESS));

	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_int_equal(clsact_prog(ifindex, BPF_TC_INGRESS), in1);
	assert_int_equal(clsact_prog(ifindex, BPF_TC_EGRESS), eg1);
	assert_int_equal(pw_dp_attach_tc(f->dp, ifindex), 0);
	assert_int_equal(clsact_prog(ifindex, BPF_TC_INGRESS), in1);
	assert_int_equal(tcx_query(ifindex, TCX_INGRESS, ids, &cnt), 0);
	assert_int_equal(cnt, 0); /* no tcx link in clsact mode */

	/* the endpoint map is how a new open finds the interfaces to re-attach */
	ep.ifindex = ifindex;
	assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), 0);
	pw_dp_close(f->dp);
	f->dp = NULL;
	assert_int_equal(clsact_prog(ifindex, BPF_TC_INGRESS), in1);

	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_true(pw_dp_adopted(f->dp));
	in1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_INGRESS));
	eg1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_TC_EGRESS));
	assert_int_equal(clsact_prog(ifindex, BPF_TC_INGRESS), in1);
	assert_int_equal(clsact_prog(ifindex, BPF_TC_EGRESS), eg1);

	assert_int_equal(pw_dp_destroy(f->dp), 0);
	f->dp = NULL;
	assert_int_equal(clsact_prog(ifindex, BPF_TC_INGRESS), 0);
	assert_int_equal(clsact_prog(ifindex, BPF_TC_EGRESS), 0);
	assert_false(exists(f->bpffs));
}

static void test_tc_nodev(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	uint32_t ifindex;

	enter_netns(f);
	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_int_equal(pw_dp_attach_tc(f->dp, 4000), -ENODEV);
	assert_non_null(strstr(logbuf, "no interface with ifindex 4000"));
	assert_int_equal(pw_dp_ifindex("pw-nonexistent", &ifindex), -ENODEV);
}

/* --- socket programs at a test cgroup ----------------------------------------------------- */

static int cgroup2_mount(char *out, size_t len)
{
	char dev[256], mnt[256], type[64], line[1024];
	FILE *fp = fopen("/proc/self/mounts", "r");
	int found = -1;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%255s %255s %63s", dev, mnt, type) == 3 &&
		    !strcmp(type, "cgroup2")) {
			snprintf(out, len, "%s", mnt);
			found = 0;
			break;
		}
	}
	fclose(fp);
	return found;
}

static __u32 cgroup_prog(const char *cg, enum bpf_attach_type t, __u32 *cnt)
{
	__u32 ids[4], flags = 0;
	int fd = open(cg, O_RDONLY | O_DIRECTORY);

	*cnt = 4;
	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_query(fd, t, 0, &flags, ids, cnt), 0);
	close(fd);
	return *cnt ? ids[0] : 0;
}

static void test_cgroup(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	char root[256], path[512], sub[512];
	__u32 id1, id2, cnt;

	if (cgroup2_mount(root, sizeof(root)))
		skip();
	snprintf(f->cgroup, sizeof(f->cgroup), "%s/podwall-test-%d", root, getpid());
	assert_int_equal(mkdir(f->cgroup, 0755), 0);

	opts_init(&o);
	o.bpffs_dir = f->bpffs;

	/* the machine's cgroup2 root is refused, before anything is loaded */
	o.cgroup_root = root;
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	assert_non_null(strstr(logbuf, "is the root of the cgroup2 mount"));
	snprintf(path, sizeof(path), "%s/", root);
	o.cgroup_root = path; /* spelled differently, same directory */
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	o.cgroup_root = "/tmp";
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	assert_non_null(strstr(logbuf, "is not a cgroup v2 directory"));
	assert_false(exists(f->bpffs) && exists(strcat(strcpy(sub, f->bpffs), "/maps/pw_ct_v2")));

	o.cgroup_root = f->cgroup;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_non_null(strstr(logbuf, "is at level 1 below"));
	id1 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_CONNECT4));
	assert_int_equal(cgroup_prog(f->cgroup, BPF_CGROUP_INET4_CONNECT, &cnt), id1);
	assert_int_equal(cnt, 1);
	assert_int_equal(cgroup_prog(f->cgroup, BPF_CGROUP_UDP6_SENDMSG, &cnt),
			 prog_id(pw_dp_prog_fd(f->dp, PW_PROG_SENDMSG6)));
	snprintf(path, sizeof(path), "%s/links/pw_connect4", f->bpffs);
	assert_true(exists(path));
	/* nothing on the machine's root cgroup */
	cgroup_prog(root, BPF_CGROUP_INET4_CONNECT, &cnt);
	assert_int_equal(cnt, 0);

	pw_dp_close(f->dp);
	f->dp = NULL;
	assert_int_equal(cgroup_prog(f->cgroup, BPF_CGROUP_INET4_CONNECT, &cnt), id1);

	/* reopen: the pinned link now runs the new program, still one attachment */
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	id2 = prog_id(pw_dp_prog_fd(f->dp, PW_PROG_CONNECT4));
	assert_true(id2 != id1);
	assert_int_equal(cgroup_prog(f->cgroup, BPF_CGROUP_INET4_CONNECT, &cnt), id2);
	assert_int_equal(cnt, 1);

	/* a deeper cgroup root gets the level below the mount root */
	pw_dp_close(f->dp);
	f->dp = NULL;
	snprintf(sub, sizeof(sub), "%s/nodes", f->cgroup);
	assert_int_equal(mkdir(sub, 0755), 0);
	o.cgroup_root = sub;
	logbuf[0] = '\0';
	if (pw_dp_open(&o, &f->dp) != 0) {
		rmdir(sub);
		fail_msg("open at %s failed:\n%s", sub, logbuf);
	}
	/* the pinned links moved to the new root */
	cgroup_prog(f->cgroup, BPF_CGROUP_INET4_CONNECT, &cnt);
	assert_int_equal(cnt, 0);
	cgroup_prog(sub, BPF_CGROUP_INET4_CONNECT, &cnt);
	assert_int_equal(cnt, 1);
	assert_non_null(strstr(logbuf, "is at level 2 below"));
	assert_int_equal(pw_dp_destroy(f->dp), 0);
	f->dp = NULL;
	cgroup_prog(sub, BPF_CGROUP_INET4_CONNECT, &cnt);
	rmdir(sub);
	assert_int_equal(cnt, 0);
	assert_false(exists(f->bpffs));
}

/* --- conntrack ---------------------------------------------------------------------------- */

struct ended {
	int n;
	uint32_t sport[16];
	int why[16];
};

static void on_end(void *ctx, const struct pw_ct_key *k, const struct pw_ct_entry *v,
		   enum pw_flow_end_reason why)
{
	struct ended *e = ctx;

	if (e->n < 16) {
		e->sport[e->n] = ntohs(k->sport);
		e->why[e->n] = why;
	}
	e->n++;
}

static int ended_why(const struct ended *e, uint16_t sport)
{
	int i;

	for (i = 0; i < e->n && i < 16; i++) {
		if (e->sport[i] == sport)
			return e->why[i];
	}
	return 0;
}

static void test_ct(void **state)
{
	static const struct {
		uint8_t proto, state;
		int64_t age_s; /* negative: last seen after "now" */
		int why;       /* 0: kept */
	} t[] = {
		{IPPROTO_TCP, PW_CT_NEW, 59, 0},
		{IPPROTO_TCP, PW_CT_NEW, 61, PW_END_TIMEOUT},
		{IPPROTO_TCP, PW_CT_ESTABLISHED, 6 * 3600 - 1, 0},
		{IPPROTO_TCP, PW_CT_ESTABLISHED, 6 * 3600 + 1, PW_END_TIMEOUT},
		{IPPROTO_TCP, PW_CT_CLOSING, 9, 0},
		{IPPROTO_TCP, PW_CT_CLOSING, 11, PW_END_CLOSED},
		{IPPROTO_UDP, PW_CT_ESTABLISHED, 59, 0},
		{IPPROTO_UDP, PW_CT_NEW, 61, PW_END_TIMEOUT},
		{IPPROTO_ICMP, PW_CT_NEW, 29, 0},
		{IPPROTO_ICMP, PW_CT_ESTABLISHED, 31, PW_END_TIMEOUT},
		{IPPROTO_TCP, PW_CT_CLOSING, -5, 0},
	};
	const size_t n = sizeof(t) / sizeof(t[0]);
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_ct_sweep_stats st;
	struct pw_ct_timeouts to;
	struct ended e = {};
	struct timespec ts;
	uint64_t now, count;
	size_t i, kept = 0;
	int fd;

	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	fd = pw_dp_map_fd(f->dp, PW_DPMAP_CT);
	/* a sweep 12 hours from now, so every age fits the monotonic clock */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * NS + ts.tv_nsec + 12 * 3600 * NS;
	for (i = 0; i < n; i++) {
		struct pw_ct_key k = {.ep_id = i < 6 ? 7 : 8,
				      .scope = PW_DIR_EGRESS,
				      .family = PW_FAMILY_V4,
				      .proto = t[i].proto,
				      .sport = htons(10000 + i),
				      .dport = htons(80)};
		struct pw_ct_entry v = {.state = t[i].state};

		inet_pton(AF_INET, "198.18.0.1", &k.saddr[0]);
		inet_pton(AF_INET, "198.18.0.2", &k.daddr[0]);
		v.last_seen_ns = now - t[i].age_s * (int64_t)NS;
		v.created_ns = v.last_seen_ns - NS;
		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
		kept += !t[i].why;
	}
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, n);

	assert_int_equal(pw_dp_ct_sweep(f->dp, now, NULL, on_end, &e, &st), 0);
	assert_int_equal(st.scanned, n);
	assert_int_equal(st.expired, n - kept);
	assert_int_equal(e.n, n - kept);
	for (i = 0; i < n; i++)
		assert_int_equal(ended_why(&e, 10000 + i), t[i].why);
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, kept);

	/* custom timeouts: UDP after 1 s */
	pw_ct_timeouts_default(&to);
	assert_int_equal(to.tcp_established_ns, 6 * 3600 * NS);
	to.udp_ns = NS;
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_ct_sweep(f->dp, now, &to, on_end, &e, &st), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(ended_why(&e, 10006), PW_END_TIMEOUT);
	to.sz = 0; /* not from pw_ct_timeouts_default: refused, not silently defaulted */
	assert_int_equal(pw_dp_ct_sweep(f->dp, now, &to, NULL, NULL, NULL), -EINVAL);

	/* flush one endpoint, then all */
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_ct_flush(f->dp, 7, on_end, &e), 0);
	assert_int_equal(e.n, 3); /* 10000, 10002, 10004 */
	assert_int_equal(ended_why(&e, 10002), PW_END_FLUSHED);
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, kept - 1 - 3);
	assert_int_equal(pw_dp_ct_flush(f->dp, 0, NULL, NULL), 0);
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, 0);
}

/* A sweep over many entries, half expired: deleting while walking loses none. */
static void test_ct_sweep_many(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_ct_sweep_stats st;
	uint64_t now = 100 * 3600 * NS, count;
	uint32_t i;
	int fd;

	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	fd = pw_dp_map_fd(f->dp, PW_DPMAP_CT);
	for (i = 0; i < 1000; i++) {
		struct pw_ct_key k = {.ep_id = 1,
				      .family = PW_FAMILY_V4,
				      .proto = IPPROTO_UDP,
				      .sport = htons(i),
				      .dport = htons(53)};
		struct pw_ct_entry v = {.last_seen_ns = now - (i % 2 ? 120 : 1) * NS};

		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
	}
	assert_int_equal(pw_dp_ct_sweep(f->dp, now, NULL, NULL, NULL, &st), 0);
	assert_int_equal(st.expired, 500);
	assert_int_equal(st.scanned, 1000);
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, 500);
}

/* what the callback got for each parked or live flow of test_ct_parked */
struct parked_end {
	int n;
	uint16_t sport[8];
	uint8_t ended[8]; /* the key's ended as handed to the callback */
	uint64_t packets[8];
	int why[8];
};

static void on_parked_end(void *ctx, const struct pw_ct_key *k, const struct pw_ct_entry *v,
			  enum pw_flow_end_reason why)
{
	struct parked_end *e = ctx;

	if (e->n < 8) {
		e->sport[e->n] = ntohs(k->sport);
		e->ended[e->n] = k->ended;
		e->packets[e->n] = v->packets[0];
		e->why[e->n] = why;
	}
	e->n++;
}

/* the index of the record for (sport, packets[0]), or -1 */
static int parked_find(const struct parked_end *e, uint16_t sport, uint64_t packets)
{
	int i;

	for (i = 0; i < e->n && i < 8; i++)
		if (e->sport[i] == sport && e->packets[i] == packets)
			return i;
	return -1;
}

/*
 * Flows the TC program ended itself (revoked, or closed and their port pair reused) wait
 * under ended != 0: the first sweep reports each at once, whatever its age, with the reason
 * it ended for and the key it had when live; the live flow on the same tuple stays. The
 * flush ends parked flows too, with their own reason.
 */
static void test_ct_parked(void **state)
{
	static const struct {
		uint16_t sport;
		uint8_t ended, state, flags;
		int64_t age_s; /* negative: last seen after "now" */
		uint64_t packets;
		int why; /* at the sweep; 0: kept */
	} t[] = {
		{20000, 1, PW_CT_ESTABLISHED, PW_CT_F_REVOKED, 0, 11, PW_END_REVOKED},
		{20000, 2, PW_CT_CLOSING, 0, -5, 12, PW_END_CLOSED},
		{20000, 0, PW_CT_NEW, 0, 1, 13, 0}, /* the new connection on that port pair */
		{20001, 3, PW_CT_CLOSING, PW_CT_F_REVOKED, 1, 14, PW_END_REVOKED},
		{20002, 0, PW_CT_ESTABLISHED, 0, 1, 15, 0},
	};
	const size_t n = sizeof(t) / sizeof(t[0]);
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_ct_sweep_stats st;
	struct parked_end e = {};
	struct timespec ts;
	uint64_t now, count;
	size_t i;
	int fd, j;

	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	fd = pw_dp_map_fd(f->dp, PW_DPMAP_CT);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * NS + ts.tv_nsec + 3600 * NS;
	for (i = 0; i < n; i++) {
		struct pw_ct_key k = {.ep_id = 7,
				      .scope = PW_DIR_EGRESS,
				      .family = PW_FAMILY_V4,
				      .proto = IPPROTO_TCP,
				      .ended = t[i].ended,
				      .sport = htons(t[i].sport),
				      .dport = htons(80)};
		struct pw_ct_entry v = {.state = t[i].state, .flags = t[i].flags};

		inet_pton(AF_INET, "198.18.0.1", &k.saddr[0]);
		inet_pton(AF_INET, "198.18.0.2", &k.daddr[0]);
		v.last_seen_ns = now - t[i].age_s * (int64_t)NS;
		v.created_ns = v.last_seen_ns - NS;
		v.packets[0] = t[i].packets;
		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
	}

	assert_int_equal(pw_dp_ct_sweep(f->dp, now, NULL, on_parked_end, &e, &st), 0);
	assert_int_equal(st.scanned, n);
	assert_int_equal(st.expired, 3);
	assert_int_equal(e.n, 3);
	for (i = 0; i < n; i++) {
		j = parked_find(&e, t[i].sport, t[i].packets);
		if (!t[i].why) {
			assert_int_equal(j, -1);
			continue;
		}
		assert_true(j >= 0);
		assert_int_equal(e.why[j], t[i].why);
		assert_int_equal(e.ended[j], 0); /* named as when it was live */
	}
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, 2);
	/* nothing parked is left to report twice */
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_ct_sweep(f->dp, now, NULL, on_parked_end, &e, &st), 0);
	assert_int_equal(e.n, 0);

	/* the flush: live flows end as flushed, parked ones with their own reason */
	{
		struct pw_ct_key k = {.ep_id = 7,
				      .scope = PW_DIR_EGRESS,
				      .family = PW_FAMILY_V4,
				      .proto = IPPROTO_TCP,
				      .ended = 1,
				      .sport = htons(20000),
				      .dport = htons(80)};
		struct pw_ct_entry v = {.state = PW_CT_ESTABLISHED, .flags = PW_CT_F_REVOKED};

		inet_pton(AF_INET, "198.18.0.1", &k.saddr[0]);
		inet_pton(AF_INET, "198.18.0.2", &k.daddr[0]);
		v.last_seen_ns = now;
		v.packets[0] = 16;
		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
		k.ep_id = 8; /* another endpoint's parked flow: not this flush's */
		v.packets[0] = 17;
		assert_int_equal(bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST), 0);
	}
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_ct_flush(f->dp, 7, on_parked_end, &e), 0);
	assert_int_equal(e.n, 3);
	j = parked_find(&e, 20000, 16);
	assert_true(j >= 0);
	assert_int_equal(e.why[j], PW_END_REVOKED);
	assert_int_equal(e.ended[j], 0);
	j = parked_find(&e, 20000, 13);
	assert_true(j >= 0);
	assert_int_equal(e.why[j], PW_END_FLUSHED);
	j = parked_find(&e, 20002, 15);
	assert_true(j >= 0);
	assert_int_equal(e.why[j], PW_END_FLUSHED);
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, 1);
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_ct_flush(f->dp, 0, on_parked_end, &e), 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.why[0], PW_END_REVOKED);
	assert_int_equal(e.packets[0], 17);
	assert_int_equal(pw_dp_ct_count(f->dp, &count), 0);
	assert_int_equal(count, 0);
}

/* --- metrics, usage, handles, events ------------------------------------------------------ */

static void test_metrics(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct pw_metric out[PW_METRICS_SLOTS], *vals;
	struct pw_map_usage u;
	int ncpu = libbpf_num_possible_cpus(), c, m;
	__u32 slot = PW_METRIC_IDX(PW_DROP_POLICY, PW_DIR_EGRESS);
	uint64_t want = 0;

	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_int_equal(pw_dp_metrics_read(f->dp, out), 0);
	for (m = 0; m < PW_METRICS_SLOTS; m++)
		assert_int_equal(out[m].packets, 0);

	vals = calloc(ncpu, sizeof(*vals));
	assert_non_null(vals);
	for (c = 0; c < ncpu; c++) {
		vals[c].packets = c + 1;
		vals[c].bytes = 100 * (c + 1);
		want += c + 1;
	}
	assert_int_equal(
		bpf_map_update_elem(pw_dp_map_fd(f->dp, PW_DPMAP_METRICS), &slot, vals, BPF_ANY),
		0);
	assert_int_equal(pw_dp_metrics_read(f->dp, out), 0);
	assert_int_equal(out[slot].packets, want);
	assert_int_equal(out[slot].bytes, 100 * want);
	assert_int_equal(out[slot + 1].packets, 0);
	/* an event loss counter is summed like the grid, and so is the last slot */
	slot = PW_METRIC_EV_NOREADER;
	assert_int_equal(
		bpf_map_update_elem(pw_dp_map_fd(f->dp, PW_DPMAP_METRICS), &slot, vals, BPF_ANY),
		0);
	slot = PW_METRICS_SLOTS - 1;
	assert_int_equal(slot, PW_METRIC_CT_END_LOST);
	assert_int_equal(
		bpf_map_update_elem(pw_dp_map_fd(f->dp, PW_DPMAP_METRICS), &slot, vals, BPF_ANY),
		0);
	free(vals);
	assert_int_equal(pw_dp_metrics_read(f->dp, out), 0);
	assert_int_equal(out[PW_METRIC_EV_NOREADER].packets, want);
	assert_int_equal(out[slot].packets, want);
	assert_int_equal(out[PW_METRIC_EV_FULL].packets, 0);
	assert_int_equal(out[PW_METRIC_IDX(PW_DROP_POLICY, PW_DIR_EGRESS)].packets, want);

	assert_int_equal(pw_dp_map_usage(f->dp, PW_DPMAP_METRICS, &u), 0);
	assert_int_equal(u.max_entries, PW_METRICS_SLOTS);
	assert_int_equal(u.entries, PW_METRICS_SLOTS);
	assert_int_equal(pw_dp_map_usage(f->dp, PW_DPMAP_POLICY, &u), 0);
	assert_int_equal(u.max_entries, 1024);
	assert_int_equal(u.entries, 0);
	assert_string_equal(u.name, "pw_policy_v1");
	assert_int_equal(pw_dp_map_usage(f->dp, PW_DPMAP_COUNT, &u), -EINVAL);

	for (m = 0; m < PW_DPMAP_COUNT; m++)
		assert_true(pw_dp_map_fd(f->dp, m) >= 0);
	for (m = 0; m < PW_PROG_COUNT; m++)
		assert_true(pw_dp_prog_fd(f->dp, m) >= 0);
	assert_int_equal(pw_dp_map_fd(f->dp, PW_DPMAP_COUNT), -EINVAL);
	assert_int_equal(pw_dp_prog_fd(f->dp, PW_PROG_COUNT), -EINVAL);
}

/*
 * A raw tc program that sends one record of `size` bytes (a pw_event with a marker) to the
 * events map: the reader is tested without depending on the enforcement programs' logic.
 */
#define INSN(c, d, s_, o, i) \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s_), .off = (o), .imm = (i)})
#define EV_OFF(f) (-(int)sizeof(struct pw_event) + (int)offsetof(struct pw_event, f))

static int event_prog(int map_fd, int size)
{
	struct bpf_insn p[40];
	int n = 0, i;

	for (i = 0; i < (int)sizeof(struct pw_event); i += 8)
		p[n++] = INSN(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0,
			      -(int)sizeof(struct pw_event) + i, 0);
	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_B, BPF_REG_10, 0, EV_OFF(type), PW_EV_DROP);
	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_B, BPF_REG_10, 0, EV_OFF(reason), PW_DROP_POLICY);
	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, EV_OFF(ep_id), 4242);
	p[n++] = INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0, map_fd);
	p[n++] = INSN(0, 0, 0, 0, 0);
	p[n++] = INSN(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, -1); /* BPF_F_CURRENT_CPU */
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_4, BPF_REG_10, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_4, 0, 0, -(int)sizeof(struct pw_event));
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_5, 0, 0, size);
	p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_perf_event_output);
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "pw_test_ev", "GPL", p, n, NULL);
}

static void run_prog(int fd, int repeat)
{
	unsigned char pkt[64] = {0};
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = repeat);

	/* an Ethernet header with IPv4 type, the rest zero: the program does not parse it */
	pkt[12] = 0x08;
	assert_int_equal(bpf_prog_test_run_opts(fd, &t), 0);
}

struct evs {
	int n;
	uint32_t ep_id;
	uint8_t type, reason;
	uint64_t lost;
	uint64_t repeats; /* on_repeat's counts */
	int n_repeat;	  /* its calls */
	uint16_t repeat_sport;
};

static void on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	struct evs *e = ctx;

	e->n++;
	e->ep_id = ev->ep_id;
	e->type = ev->type;
	e->reason = ev->reason;
}

static void on_lost(void *ctx, int cpu, uint64_t lost)
{
	((struct evs *)ctx)->lost += lost;
}

static void on_repeat(void *ctx, int cpu, const struct pw_event *ev, uint64_t n)
{
	struct evs *e = ctx;

	assert_int_equal(ev->type, PW_EV_DROP);
	assert_int_equal(ev->flags & PW_EV_F_FOLD, 0);
	assert_int_equal(ev->fold_gen, 0);
	e->repeats += n;
	e->n_repeat++;
	e->repeat_sport = ntohs(ev->sport);
}

static int drain(struct pw_dp *dp)
{
	int r, total = 0;

	while ((r = pw_dp_events_poll(dp, 50)) > 0)
		total += r;
	assert_true(r == 0);
	return total;
}

static void test_events(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct evs e = {};
	cpu_set_t one, saved;
	int full = -1, shrt = -1, handled;

	/* one CPU: every record and every lost count lands in one ring */
	assert_int_equal(sched_getaffinity(0, sizeof(saved), &saved), 0);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);

	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_int_equal(pw_dp_events_fd(f->dp), -EINVAL); /* not open yet */
	assert_int_equal(pw_dp_events_open(f->dp, 3, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(pw_dp_events_open(f->dp, 1, on_event, on_lost, &e), 0);
	assert_int_equal(pw_dp_events_open(f->dp, 1, NULL, NULL, NULL), -EBUSY);
	assert_true(pw_dp_events_fd(f->dp) >= 0);
	assert_int_equal(pw_dp_events_poll(f->dp, 0), 0);
	assert_int_equal(pw_dp_events_consume(f->dp), 0);

	full = event_prog(pw_dp_map_fd(f->dp, PW_DPMAP_EVENTS), sizeof(struct pw_event));
	shrt = event_prog(pw_dp_map_fd(f->dp, PW_DPMAP_EVENTS), 8);
	if (full < 0 || shrt < 0)
		goto out;

	run_prog(full, 1);
	assert_int_equal(drain(f->dp), 1);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.ep_id, 4242);
	assert_int_equal(e.type, PW_EV_DROP);
	assert_int_equal(e.reason, PW_DROP_POLICY);

	/* a record of another layout is counted, not handed out */
	run_prog(shrt, 1);
	assert_int_equal(drain(f->dp), 0);
	assert_int_equal(pw_dp_events_short(f->dp), 1);
	assert_int_equal(e.n, 1);

	/*
	 * Overflow a one-page ring: what does not fit is lost and counted. The kernel reports
	 * a loss with the next record that fits, hence the extra run after draining.
	 */
	run_prog(full, 200);
	handled = drain(f->dp);
	run_prog(full, 1);
	handled += drain(f->dp);
	assert_true(pw_dp_events_lost(f->dp) > 0);
	assert_int_equal(e.lost, pw_dp_events_lost(f->dp));
	assert_int_equal(handled + pw_dp_events_lost(f->dp), 201);
	assert_int_equal(pw_dp_events_consume(f->dp), 0);
out:
	if (full >= 0)
		close(full);
	if (shrt >= 0)
		close(shrt);
	sched_setaffinity(0, sizeof(saved), &saved);
	assert_true(full >= 0 && shrt >= 0);
}

/*
 * Records through the real TC program, whose pw_event_emit() counts what it cannot write: a
 * SYN from an address the endpoint does not own, on its veth, is dropped as spoofed with one
 * event per run. Runs in a private netns: BPF_PROG_TEST_RUN resolves the skb's ifindex.
 */
#define SPOOF_EP_ADDR "198.18.0.1"
#define SPOOF_SRC     "198.18.9.9"

struct syn_frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

struct spoof {
	int prog;
	uint32_t ifindex;
	uint32_t sent; /* SYNs spoof_run() sent: each its own source port */
	struct syn_frame f;
};

static uint16_t ip_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* every record and every loss of the test in one CPU's ring */
static void pin_cpu0(struct fx *f)
{
	cpu_set_t one;

	assert_int_equal(sched_getaffinity(0, sizeof(f->saved_cpus), &f->saved_cpus), 0);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	f->pinned = true;
}

static void spoof_setup(struct fx *f, struct spoof *sp)
{
	struct pw_endpoint ep = {.ep_id = 7, .identity = 300, .n_v4 = 1};
	char name[IFNAMSIZ];

	enter_netns(f);
	sp->ifindex = make_veth(name, sizeof(name));
	ep.ifindex = sp->ifindex;
	assert_int_equal(inet_pton(AF_INET, SPOOF_EP_ADDR, &ep.v4[0]), 1);
	assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), 0);
	/* the library learned the pod's MAC from the veth's peer: frames come from it */
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, ep.ifindex, &ep), 0);
	sp->prog = pw_dp_prog_fd(f->dp, PW_PROG_TC_INGRESS); /* what the pod sends */
	assert_true(sp->prog >= 0);

	memset(&sp->f, 0, sizeof(sp->f));
	memcpy(sp->f.eth.h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	memcpy(sp->f.eth.h_source, ep.mac, ETH_ALEN);
	sp->f.eth.h_proto = htons(ETH_P_IP);
	sp->f.ip.version = 4;
	sp->f.ip.ihl = 5;
	sp->f.ip.ttl = 64;
	sp->f.ip.protocol = IPPROTO_TCP;
	sp->f.ip.tot_len = htons(sizeof(sp->f.ip) + sizeof(sp->f.tcp));
	inet_pton(AF_INET, SPOOF_SRC, &sp->f.ip.saddr);
	inet_pton(AF_INET, "198.18.0.2", &sp->f.ip.daddr);
	sp->f.ip.check = htons(ip_csum(&sp->f.ip, sizeof(sp->f.ip)));
	sp->f.tcp.source = htons(40000);
	sp->f.tcp.dest = htons(80);
	sp->f.tcp.doff = 5;
	sp->f.tcp.syn = 1;
	sp->f.tcp.window = htons(64240);
}

/* n copies of the current spoofed SYN dropped; returns the decisions the metrics counted */
static uint64_t spoof_flood(struct fx *f, struct spoof *sp, int n)
{
	struct pw_metric m0[PW_METRICS_SLOTS], m1[PW_METRICS_SLOTS];
	struct __sk_buff skb = {.ifindex = sp->ifindex};
	unsigned int slot = PW_METRIC_IDX(PW_DROP_SPOOFED, PW_DIR_EGRESS);
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = &sp->f, .data_size_in = sizeof(sp->f),
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .repeat = n);

	assert_int_equal(pw_dp_metrics_read(f->dp, m0), 0);
	assert_int_equal(bpf_prog_test_run_opts(sp->prog, &t), 0);
	assert_int_equal(t.retval, 2 /* TC_ACT_SHOT */);
	assert_int_equal(pw_dp_metrics_read(f->dp, m1), 0);
	return m1[slot].packets - m0[slot].packets;
}

/*
 * n spoofed SYNs dropped, each from a source port of its own, so none is a repeat of the one
 * before (drop folding) and each is a record: returns the decisions the metrics counted
 */
static uint64_t spoof_run(struct fx *f, struct spoof *sp, int n)
{
	uint64_t total = 0;

	for (int i = 0; i < n; i++) {
		sp->f.tcp.source = htons(40000 + sp->sent++ % 20000);
		total += spoof_flood(f, sp, 1);
	}
	return total;
}

static uint64_t metric(struct fx *f, unsigned int slot)
{
	struct pw_metric m[PW_METRICS_SLOTS];

	assert_int_equal(pw_dp_metrics_read(f->dp, m), 0);
	return m[slot].packets;
}

/*
 * An overflow followed by silence: the loss is reported by the drain that follows it, not
 * when (or if) the kernel's PERF_RECORD_LOST comes with a later record, and that record then
 * adds nothing.
 */
static void test_events_lost_at_once(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct evs e = {};
	struct spoof sp;
	uint64_t full0, decisions;
	int handled;

	pin_cpu0(f);
	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	spoof_setup(f, &sp);
	assert_int_equal(pw_dp_events_open(f->dp, 1, on_event, on_lost, &e), 0);
	full0 = metric(f, PW_METRIC_EV_FULL);

	/* a one-page ring holds about 34 records: most of 200 find it full */
	decisions = spoof_run(f, &sp, 200);
	assert_int_equal(decisions, 200);
	handled = pw_dp_events_consume(f->dp);
	assert_true(handled > 0 && handled < 200);
	assert_int_equal(e.n, handled);
	assert_int_equal(e.lost, 200 - handled);
	assert_int_equal(pw_dp_events_lost(f->dp), e.lost);
	assert_int_equal(metric(f, PW_METRIC_EV_FULL) - full0, e.lost);
	assert_int_equal(pw_dp_events_consume(f->dp), 0);
	assert_int_equal(e.lost, 200 - handled);

	/* the next record fits and carries the kernel's PERF_RECORD_LOST: nothing new */
	assert_int_equal(spoof_run(f, &sp, 1), 1);
	assert_int_equal(pw_dp_events_consume(f->dp), 1);
	assert_int_equal(e.n, handled + 1);
	assert_int_equal(e.lost, 200 - handled);
	assert_int_equal(pw_dp_events_lost(f->dp), e.lost);

	/* a second overflow, this time drained by poll, the way podwalld's loop is woken */
	e.n = 0;
	e.lost = 0;
	assert_int_equal(spoof_run(f, &sp, 100), 100);
	handled = drain(f->dp);
	assert_true(handled > 0 && handled < 100);
	assert_int_equal(e.lost, 100 - handled);
	assert_int_equal(spoof_run(f, &sp, 1), 1);
	assert_int_equal(drain(f->dp), 1);
	assert_int_equal(e.lost, 100 - handled);
	assert_int_equal(metric(f, PW_METRIC_EV_FULL) - full0, pw_dp_events_lost(f->dp));
	assert_int_equal(metric(f, PW_METRIC_EV_NOREADER), 0);
}

/*
 * Records emitted while no reader has a ring: counted per CPU, read back without a reader by
 * pw_dp_events_unread(); once a reader is open, a CPU whose ring is gone reports through
 * on_lost instead, and unread() follows what was reported.
 */
static void test_events_unread(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct evs e = {};
	struct spoof sp;
	uint64_t u0, u1, u2;
	__u32 cpu0 = 0;

	pin_cpu0(f);
	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	spoof_setup(f, &sp);
	assert_int_equal(pw_dp_events_unread(f->dp, NULL), -EINVAL);
	assert_int_equal(pw_dp_events_unread(f->dp, &u0), 0);
	assert_int_equal(u0, 0);

	/* no reader: every record is unread, none lost (there is no reader to lose them) */
	assert_int_equal(spoof_run(f, &sp, 25), 25);
	assert_int_equal(pw_dp_events_unread(f->dp, &u1), 0);
	assert_int_equal(u1, u0 + 25);
	assert_int_equal(spoof_run(f, &sp, 5), 5);
	assert_int_equal(pw_dp_events_unread(f->dp, &u1), 0);
	assert_int_equal(u1, u0 + 30);
	assert_int_equal(metric(f, PW_METRIC_EV_NOREADER), u1);
	assert_int_equal(metric(f, PW_METRIC_EV_FULL), 0);

	/* a reader: what came before it is not its loss, and the count stops growing */
	assert_int_equal(pw_dp_events_open(f->dp, 1, on_event, on_lost, &e), 0);
	assert_int_equal(pw_dp_events_unread(f->dp, &u2), 0);
	assert_int_equal(u2, u1);
	assert_int_equal(spoof_run(f, &sp, 3), 3);
	assert_int_equal(pw_dp_events_consume(f->dp), 3);
	assert_int_equal(e.lost, 0);
	assert_int_equal(pw_dp_events_unread(f->dp, &u2), 0);
	assert_int_equal(u2, u1);

	/* CPU 0 loses its ring under an open reader: reported at the next drain, once */
	assert_int_equal(bpf_map_delete_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EVENTS), &cpu0), 0);
	assert_int_equal(spoof_run(f, &sp, 4), 4);
	assert_int_equal(pw_dp_events_unread(f->dp, &u2), 0);
	assert_int_equal(u2, u1); /* not looked at yet */
	assert_int_equal(pw_dp_events_consume(f->dp), 0);
	assert_int_equal(e.lost, 4);
	assert_int_equal(pw_dp_events_lost(f->dp), 4);
	assert_int_equal(pw_dp_events_consume(f->dp), 0);
	assert_int_equal(e.lost, 4);
	/* reported through on_lost, so part of the value a stopping daemon stores */
	assert_int_equal(pw_dp_events_unread(f->dp, &u2), 0);
	assert_int_equal(u2, u1 + 4);
	assert_int_equal(metric(f, PW_METRIC_EV_NOREADER), u1 + 4);
}

/*
 * A stopping reader: what its rings hold reaches the callbacks, and what is emitted after it
 * is counted as unread from the value it leaves, one record to one place, never both.
 */
static void test_events_close_drains(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct evs e = {};
	struct spoof sp;
	uint64_t u0, u1;

	pin_cpu0(f);
	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	spoof_setup(f, &sp);
	assert_int_equal(pw_dp_events_close(f->dp), -EINVAL); /* not open */
	assert_int_equal(pw_dp_events_open(f->dp, 4, on_event, on_lost, &e), 0);
	/* below the wakeup watermark: only a drain would see these */
	assert_int_equal(spoof_run(f, &sp, 40), 40);
	assert_int_equal(e.n, 0);
	assert_int_equal(pw_dp_events_close(f->dp), 0);
	assert_int_equal(e.n, 40);
	assert_int_equal(e.lost, 0);
	assert_int_equal(pw_dp_events_fd(f->dp), -EINVAL); /* closed */
	assert_int_equal(pw_dp_events_unread(f->dp, &u0), 0);
	assert_int_equal(spoof_run(f, &sp, 7), 7);
	assert_int_equal(pw_dp_events_unread(f->dp, &u1), 0);
	assert_int_equal(u1, u0 + 7);
	assert_int_equal(e.n, 40);
	/* a new reader starts clean */
	assert_int_equal(pw_dp_events_open(f->dp, 4, on_event, on_lost, &e), 0);
	assert_int_equal(spoof_run(f, &sp, 2), 2);
	assert_int_equal(pw_dp_events_consume(f->dp), 2);
	assert_int_equal(e.n, 42);
}

/* Hand over what the reader thread queued until n events and lost have arrived (bounded). */
static void thread_wait(struct pw_dp *dp, struct evs *e, int n, uint64_t lost)
{
	for (int i = 0; i < 200 && (e->n < n || e->lost < lost); i++)
		assert_true(pw_dp_events_poll(dp, 20) >= 0);
}

/*
 * The reader thread: records reach the callbacks in the caller's thread through the queue,
 * below the watermark too; an overflow is still counted exactly; unread() follows what was
 * handed over; close hands over what was queued and what the rings still held.
 */
static void test_events_thread(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct evs e = {};
	struct spoof sp;
	uint64_t u1, u2;
	__u32 cpu0 = 0;
	int fd;

	pin_cpu0(f);
	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	spoof_setup(f, &sp);
	assert_int_equal(pw_dp_events_thread(f->dp, 0), -EINVAL); /* no reader */
	assert_int_equal(pw_dp_events_open(f->dp, 1, on_event, on_lost, &e), 0);
	fd = pw_dp_events_fd(f->dp);
	assert_int_equal(pw_dp_events_thread(f->dp, 0), 0);
	assert_int_equal(pw_dp_events_thread(f->dp, 0), -EBUSY);
	assert_true(pw_dp_events_fd(f->dp) >= 0);
	assert_int_not_equal(pw_dp_events_fd(f->dp), fd); /* the queue's, not the rings' */

	/* below the watermark: sync has the thread drain once more, then hands them over */
	assert_int_equal(spoof_run(f, &sp, 10), 10);
	assert_int_equal(pw_dp_events_sync(f->dp), 10);
	assert_int_equal(e.n, 10);
	assert_int_equal(pw_dp_events_sync(f->dp), 0);
	assert_int_equal(e.lost, 0);

	/*
	 * A burst of 300 at a one-page ring (about 34 records): the thread drains while the
	 * burst runs, so few or none are lost; whatever is, every decision is a record or a loss.
	 */
	assert_int_equal(spoof_run(f, &sp, 300), 300);
	for (int i = 0; i < 100 && e.n + e.lost < 310; i++)
		assert_true(pw_dp_events_poll(f->dp, 20) >= 0);
	assert_int_equal(e.n + e.lost, 310);
	assert_int_equal(pw_dp_events_lost(f->dp), e.lost);
	assert_int_equal(metric(f, PW_METRIC_EV_FULL), e.lost);

	/* a ring gone under the reader: reported once, and unread() counts it when handed over */
	assert_int_equal(pw_dp_events_unread(f->dp, &u1), 0);
	assert_int_equal(bpf_map_delete_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EVENTS), &cpu0), 0);
	e.lost = 0;
	assert_int_equal(spoof_run(f, &sp, 4), 4);
	thread_wait(f->dp, &e, 0, 4);
	assert_int_equal(e.lost, 4);
	assert_int_equal(pw_dp_events_unread(f->dp, &u2), 0);
	assert_int_equal(u2, u1 + 4);
	assert_int_equal(pw_dp_events_close(f->dp), 0);

	/* close: what the thread queued and what the rings hold, none left behind */
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_events_open(f->dp, 4, on_event, on_lost, &e), 0);
	assert_int_equal(pw_dp_events_thread(f->dp, 0), 0);
	assert_int_equal(spoof_run(f, &sp, 40), 40);
	assert_int_equal(pw_dp_events_close(f->dp), 0);
	assert_int_equal(e.n, 40);
	assert_int_equal(e.lost, 0);
}

/*
 * Drop folding: a flood of one dropped packet is one record and counts, every drop accounted
 * for exactly once, by the reader's look (a window nothing closes), by the window's close
 * record, across a reader's restart (PW_MAP_FOLDACK) and when the close finds the ring full.
 */
static void test_events_fold(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct evs e = {};
	struct spoof sp;
	uint64_t u0, u1, decisions, full0;
	int n0;

	pin_cpu0(f);
	opts_init(&o);
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	spoof_setup(f, &sp);
	assert_int_equal(pw_dp_events_open(f->dp, 4, on_event, on_lost, &e), 0);
	pw_dp_events_on_repeat(f->dp, on_repeat);

	/* 1000 of one SYN: its record, then 999 as a count read from the open window */
	sp.f.tcp.source = htons(33333);
	assert_int_equal(spoof_flood(f, &sp, 1000), 1000);
	assert_true(pw_dp_events_consume(f->dp) >= 1);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.repeats, 999);
	assert_int_equal(e.repeat_sport, 33333);
	assert_int_equal(pw_dp_events_repeats(f->dp), 999);
	/* more of it, then a look that finds nothing new */
	assert_int_equal(spoof_flood(f, &sp, 500), 500);
	pw_dp_events_consume(f->dp);
	pw_dp_events_consume(f->dp);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.repeats, 1499);
	/* another drop closes the window: its close record carries nothing not handed on yet */
	n0 = e.n_repeat;
	assert_int_equal(spoof_run(f, &sp, 1), 1);
	pw_dp_events_consume(f->dp);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.repeats, 1499);
	assert_int_equal(e.n_repeat, n0);
	assert_int_equal(e.lost, 0);

	/* the reader stops while a flood goes on: the next one hands on exactly the rest */
	sp.f.tcp.source = htons(33334);
	assert_int_equal(spoof_flood(f, &sp, 10), 10);
	assert_int_equal(pw_dp_events_close(f->dp), 0);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.repeats, 1508);
	assert_int_equal(pw_dp_events_unread(f->dp, &u0), 0);
	decisions = spoof_flood(f, &sp, 200);
	assert_int_equal(decisions, 200);
	assert_int_equal(pw_dp_events_open(f->dp, 4, on_event, on_lost, &e), 0);
	pw_dp_events_on_repeat(f->dp, on_repeat);
	pw_dp_events_consume(f->dp);
	assert_int_equal(pw_dp_events_unread(f->dp, &u1), 0);
	/* within the window (1 s) all 200 were repeats; past it, a few were records unread */
	assert_int_equal(e.repeats - 1508 + (u1 - u0), 200);
	assert_int_equal(pw_dp_events_repeats(f->dp), e.repeats - 1508);
	/* and a close after the restart hands on nothing twice */
	assert_int_equal(spoof_run(f, &sp, 1), 1);
	pw_dp_events_consume(f->dp);
	assert_int_equal(e.repeats - 1508 + (u1 - u0), 200);
	assert_int_equal(e.lost, 0);
	assert_int_equal(pw_dp_events_close(f->dp), 0);

	/*
	 * A full ring: the flood's own record is lost and its window's close finds the ring full
	 * too. The close is no loss (the kernel's PERF_RECORD_LOST counts it; the reader takes
	 * it out again), the window keeps counting, and a later close hands its repeats on.
	 */
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_events_open(f->dp, 1, on_event, on_lost, &e), 0);
	pw_dp_events_on_repeat(f->dp, on_repeat);
	full0 = metric(f, PW_METRIC_EV_FULL);
	assert_int_equal(spoof_run(f, &sp, 60), 60); /* a one-page ring holds about 34 */
	sp.f.tcp.source = htons(33335);
	assert_int_equal(spoof_flood(f, &sp, 50), 50);
	assert_int_equal(spoof_run(f, &sp, 1), 1); /* its close fails: the ring is full */
	assert_true(drain(f->dp) > 0);
	assert_int_equal(e.repeats, 0);
	assert_int_equal(e.lost, metric(f, PW_METRIC_EV_FULL) - full0);
	assert_int_equal(e.n + e.lost, 62);
	/* the ring has room, and no close is tried for PW_FOLD_RETRY_NS after a failed one */
	usleep(PW_FOLD_RETRY_NS / 1000 + 50000);
	assert_int_equal(spoof_run(f, &sp, 1), 1); /* this one closes it */
	pw_dp_events_consume(f->dp);
	assert_int_equal(e.repeats, 49);
	assert_int_equal(e.repeat_sport, 33335);
	assert_int_equal(e.n + e.lost + e.repeats, 60 + 50 + 2);
	assert_int_equal(e.lost, metric(f, PW_METRIC_EV_FULL) - full0);
	assert_int_equal(pw_dp_events_lost(f->dp), e.lost);
	/* a flood while nobody reads: its repeats keep folding, past the window too */
	assert_int_equal(pw_dp_events_close(f->dp), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(pw_dp_events_unread(f->dp, &u0), 0);
	sp.f.tcp.source = htons(33336);
	assert_int_equal(spoof_flood(f, &sp, 100), 100);
	assert_int_equal(spoof_run(f, &sp, 1), 1); /* its close fails: no reader */
	sp.f.tcp.source = htons(33336);
	assert_int_equal(spoof_flood(f, &sp, 100), 100);
	assert_int_equal(pw_dp_events_unread(f->dp, &u1), 0);
	/* unread: the flood's record and the other drop, each written once and found no ring */
	assert_int_equal(u1 - u0, 2);
	assert_int_equal(pw_dp_events_open(f->dp, 1, on_event, on_lost, &e), 0);
	pw_dp_events_on_repeat(f->dp, on_repeat);
	usleep(PW_FOLD_RETRY_NS / 1000 + 50000);
	assert_int_equal(spoof_run(f, &sp, 1), 1); /* closes it: all 199 repeats arrive */
	pw_dp_events_consume(f->dp);
	assert_int_equal(e.repeats, 199);
	assert_int_equal(e.repeat_sport, 33336);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.lost, 0);
	assert_int_equal(pw_dp_events_close(f->dp), 0);
}

/* Without privileges the open fails with a message that says what is missing. */
static void test_unprivileged(void **state)
{
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pw_dp_opts o;
		struct pw_dp *dp = NULL;
		int err;

		/* leaving uid 0 drops every capability */
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(2);
		opts_init(&o);
		logbuf[0] = '\0';
		err = pw_dp_open(&o, &dp);
		if (err != -EPERM || dp)
			_exit(3);
		_exit(strstr(logbuf, "podwall needs root") ? 0 : 4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A bpffs dir outside /sys/fs/bpf gets its own bpffs mount; destroy unmounts it. */
static void test_own_mount(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	struct statfs sfs;
	char dir[200];

	snprintf(f->own_parent, sizeof(f->own_parent), "/tmp/podwall-test-%d", getpid());
	assert_int_equal(mkdir(f->own_parent, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/bpffs", f->own_parent);
	opts_init(&o);
	o.bpffs_dir = dir;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_int_equal(statfs(dir, &sfs), 0);
	assert_true(sfs.f_type == BPF_FS_MAGIC);
	pw_dp_close(f->dp);
	f->dp = NULL;
	/* still mounted, adopted on the next open */
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_true(pw_dp_adopted(f->dp));
	assert_int_equal(pw_dp_destroy(f->dp), 0);
	f->dp = NULL;
	assert_false(exists(dir));
	assert_int_equal(statfs(f->own_parent, &sfs), 0);
	assert_false(sfs.f_type == BPF_FS_MAGIC);
}

static int count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A daemon opens and closes datapaths for days: nothing may leak a descriptor. */
static void test_no_fd_leak(void **state)
{
	struct fx *f = *state;
	struct pw_dp_opts o;
	int before, i;

	opts_init(&o);
	o.bpffs_dir = f->bpffs;
	before = count_fds();
	for (i = 0; i < 3; i++) {
		assert_int_equal(pw_dp_open(&o, &f->dp), 0);
		assert_int_equal(pw_dp_events_open(f->dp, 1, NULL, NULL, NULL), 0);
		pw_dp_close(f->dp);
		f->dp = NULL;
	}
	o.ct_max = 1; /* incompatible with the pin: a failed open */
	assert_int_equal(pw_dp_open(&o, &f->dp), -EINVAL);
	o.ct_max = 0;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	assert_int_equal(pw_dp_destroy(f->dp), 0);
	f->dp = NULL;
	assert_int_equal(count_fds(), before);
}

/*
 * Bumping rewrites every endpoint. A hash update moves its element to the head of its bucket,
 * so a walk that updates as it goes revisits colliding keys forever: 600 endpoints in 1024
 * buckets collide for certain. The alarm turns a regression into a failure, not a hang.
 */
static void test_bump_many(void **state)
{
	struct fx *f = *state;
	struct pw_endpoint ep, got;
	struct pw_dp_opts o;
	uint32_t i, n = 600;

	opts_init(&o);
	o.ep_max = 1024;
	assert_int_equal(pw_dp_open(&o, &f->dp), 0);
	for (i = 0; i < n; i++) {
		memset(&ep, 0, sizeof(ep));
		ep.ep_id = i + 1;
		ep.identity = PW_ID_FIRST_LOCAL + i;
		ep.ifindex = 10000 + i;
		ep.cgroup_id = 50000 + i;
		ep.policy_gen = 7;
		assert_int_equal(pw_dp_endpoint_upsert(f->dp, &ep), 0);
	}
	alarm(20);
	assert_int_equal(pw_dp_bump_generation(f->dp, 0), 0);
	alarm(0);
	for (i = 0; i < n; i++) {
		uint64_t cg = 50000 + i;

		assert_int_equal(pw_dp_endpoint_lookup_ifindex(f->dp, 10000 + i, &got), 0);
		assert_int_equal(got.policy_gen, 8);
		assert_int_equal(
			bpf_map_lookup_elem(pw_dp_map_fd(f->dp, PW_DPMAP_EP_CG), &cg, &got), 0);
		assert_int_equal(got.policy_gen, 8);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		T(test_cidr_parse),
		T(test_cidr_format),
		T(test_policy_expand),
		T(test_writers),
		T(test_map_full),
		T(test_pin_adopt),
		T(test_pin_old_layout),
		T(test_pin_other_version),
		T(test_upgrade_endpoints),
		T(test_upgrade_conntrack),
		T(test_tc_tcx),
		T(test_tc_clsact),
		T(test_tc_nodev),
		T(test_cgroup),
		T(test_ct),
		T(test_ct_sweep_many),
		T(test_ct_parked),
		T(test_bump_many),
		T(test_metrics),
		T(test_events),
		T(test_events_lost_at_once),
		T(test_events_unread),
		T(test_events_close_drains),
		T(test_events_thread),
		T(test_events_fold),
		T(test_unprivileged),
		T(test_own_mount),
		T(test_no_fd_leak),
	};
	/* clang-format on */

	if (geteuid() != 0) {
		fprintf(stderr, "test_datapath needs root (BPF, bpffs, netns, cgroups)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
