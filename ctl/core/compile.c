// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * NetworkPolicy semantics, rule by rule (networking.k8s.io/v1):
 * - a policy selects pods of its own namespace (spec.podSelector); a selected pod is isolated
 *   in each direction of policyTypes, and then only the union of every selecting policy's
 *   rules of that direction is allowed;
 * - a rule with no peers (absent or []) allows every peer: one entry with the ANY peer;
 * - a rule with no ports (absent or []) allows every port of every protocol: protocol 0;
 * - peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone = every
 *   pod of the matching namespaces; both = AND; ipBlock = the CIDR identities of every
 *   referenced prefix inside cidr and outside its excepts (the kernel looks up a pod address's
 *   cidr_identity too, so ipBlocks match pods);
 * - named ports resolve against the destination: the subject for ingress, each peer identity
 *   for egress, and for an ipBlock peer each pod whose address is in the block, towards that
 *   address's own host-prefix identity (namedcidr.h); unresolvable names allow nothing.
 * Audit policies (enforcement.h) are compiled the same way into the as-if-audit-enforced set
 * (PW_POL_DIR_AUDIT in the key's direction); PW_EP_F_AUDIT_ISOLATE_* is set only for the
 * directions no enforced policy isolates (elsewhere the datapath needs no audit verdict).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "namedcidr.h"
#include "enforcement.h"

/* numbers each compile's result (pw_desired.gen); one control plane per process, one thread */
static uint64_t compile_gen;

/* --- growable arrays -------------------------------------------------------------------------- */

struct kvec {
	size_t n, cap;
	struct pw_dkey *v;
};

static int kvec_push(struct kvec *kv, const struct pw_dkey *k)
{
	if (kv->n == kv->cap) {
		size_t nc = kv->cap ? kv->cap * 2 : 32;
		struct pw_dkey *nv = realloc(kv->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		kv->v = nv;
		kv->cap = nc;
	}
	kv->v[kv->n++] = *k;
	return 0;
}

struct idvec {
	size_t n, cap;
	uint32_t *v;
};

static int idvec_push(struct idvec *iv, uint32_t id)
{
	if (iv->n == iv->cap) {
		size_t nc = iv->cap ? iv->cap * 2 : 32;
		uint32_t *nv = realloc(iv->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		iv->v = nv;
		iv->cap = nc;
	}
	iv->v[iv->n++] = id;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void idvec_sort_unique(struct idvec *iv)
{
	size_t i, k = 0;

	if (!iv->n)
		return;
	qsort(iv->v, iv->n, sizeof(*iv->v), cmp_u32);
	for (i = 0; i < iv->n; i++) {
		if (!k || iv->v[k - 1] != iv->v[i])
			iv->v[k++] = iv->v[i];
	}
	iv->n = k;
}

/* hand-written, not bsearch(): merging a subject's keys asks once per key */
static bool idvec_has(const struct idvec *iv, uint32_t id)
{
	size_t lo = 0, hi = iv->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (iv->v[mid] == id)
			return true;
		if (iv->v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* --- prefix helpers --------------------------------------------------------------------------- */

static bool prefix_holds(const struct pw_prefix *p, const struct pw_addr *a)
{
	return pw_prefix_contains_addr(p, a);
}

/* --- the compiler ----------------------------------------------------------------------------- */

/* The identities of one NetworkPolicyPeer, computed once per compile, not once per subject. */
struct peer_memo {
	const struct pw_np_peer *peer;
	struct idvec ids;
};

struct cctx {
	const struct pw_state *st;
	const struct pw_sobj **nps; /* policies sorted by (namespace, name) */
	size_t n_nps;
	struct idvec alive; /* label identities with pods, by id */
	/* the same identities, resolved once: compiling walks them for every peer */
	const struct pw_ident **alive_p;
	/* and by (namespace, id), built on first use: a podSelector peer needs one namespace */
	const struct pw_ident **by_ns;
	struct pw_htab memo; /* struct peer_memo by peer pointer */
	size_t n_memos;
	struct peer_memo **memos;
	/* identities born, died or changed locality since the last commit, by id */
	struct idvec changed;
	/* while compiling a subject's entries towards these peers only (changed), else NULL */
	const struct idvec *only;
};

static int cmp_np(const void *a, const void *b)
{
	const struct pw_netpol *x = &(*(const struct pw_sobj *const *)a)->obj.u.np;
	const struct pw_netpol *y = &(*(const struct pw_sobj *const *)b)->obj.u.np;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static bool np_selects(const struct pw_netpol *np, const struct pw_ident *s)
{
	return !strcmp(np->namespace, s->ns) && pw_selector_matches(&np->pod_sel, &s->pod_labels);
}

static bool peer_matches(const struct pw_netpol *np, const struct pw_np_peer *p,
			 const struct pw_ident *id)
{
	if (p->ipblock)
		return false;
	if (p->ns_sel && !pw_selector_matches(p->ns_sel, &id->ns_labels))
		return false;
	if (p->pod_sel && !pw_selector_matches(p->pod_sel, &id->pod_labels))
		return false;
	if (!p->ns_sel && strcmp(id->ns, np->namespace))
		return false; /* podSelector alone: the policy's own namespace */
	return p->ns_sel || p->pod_sel;
}

static int emit_range(struct kvec *kv, uint32_t peer, uint8_t dir, uint8_t proto, uint32_t lo,
		      uint32_t hi, uint32_t cookie)
{
	struct pw_dkey k = {
		.peer = peer,
		.dir = dir,
		.proto = proto,
		.cookie = cookie,
	};
	unsigned int b;
	int err;

	if (!proto)
		return kvec_push(kv, &k);
	/* the largest aligned power-of-two block at lo that stays within hi, as the datapath */
	while (lo <= hi) {
		for (b = 16; b > 0; b--) {
			uint32_t size = 1u << b;

			if ((lo & (size - 1)) == 0 && lo + size - 1 <= hi)
				break;
		}
		k.port_bits = (uint8_t)(16 - b);
		k.port = (uint16_t)lo;
		err = kvec_push(kv, &k);
		if (err)
			return err;
		lo += 1u << b;
	}
	return 0;
}

static int cmp_ident_ns(const void *a, const void *b)
{
	const struct pw_ident *x = *(const struct pw_ident *const *)a;
	const struct pw_ident *y = *(const struct pw_ident *const *)b;
	int c = strcmp(x->ns, y->ns);

	if (c)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The alive identities of namespace ns: *first and the count. */
static int alive_in_ns(struct cctx *c, const char *ns, size_t *first, size_t *n)
{
	size_t lo = 0, hi = c->alive.n, i;

	if (!c->by_ns) {
		c->by_ns = malloc((c->alive.n + 1) * sizeof(*c->by_ns));
		if (!c->by_ns)
			return -ENOMEM;
		if (c->alive.n)
			memcpy(c->by_ns, c->alive_p, c->alive.n * sizeof(*c->by_ns));
		qsort(c->by_ns, c->alive.n, sizeof(*c->by_ns), cmp_ident_ns);
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(c->by_ns[mid]->ns, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < c->alive.n && !strcmp(c->by_ns[i]->ns, ns); i++)
		;
	*first = lo;
	*n = i - lo;
	return 0;
}

/* The peer identities of one NetworkPolicyPeer. */
static int peer_ids_compute(struct cctx *c, const struct pw_netpol *np, const struct pw_np_peer *p,
			    struct idvec *out)
{
	const struct pw_idtab *t = &c->st->ids;
	size_t i, e, first, n;
	int err;

	if (p->ipblock) {
		for (i = 0; i < t->n_cidrs; i++) {
			const struct pw_cidr_ident *ci = t->cidrs[i];
			bool carved = false;

			if (!ci->refs || !pw_prefix_contains(&p->ipblock->cidr, &ci->prefix))
				continue;
			for (e = 0; e < p->ipblock->n_except && !carved; e++)
				carved = pw_prefix_contains(&p->ipblock->except[e], &ci->prefix);
			if (carved)
				continue;
			err = idvec_push(out, ci->id);
			if (err)
				return err;
		}
		return 0;
	}
	if (!p->ns_sel) {
		/* podSelector alone: only the policy's own namespace can match */
		err = alive_in_ns(c, np->namespace, &first, &n);
		if (err)
			return err;
		for (i = first; i < first + n; i++) {
			if (peer_matches(np, p, c->by_ns[i])) {
				err = idvec_push(out, c->by_ns[i]->id);
				if (err)
					return err;
			}
		}
		return 0;
	}
	for (i = 0; i < c->alive.n; i++) {
		const struct pw_ident *id = c->alive_p[i];

		if (peer_matches(np, p, id)) {
			err = idvec_push(out, id->id);
			if (err)
				return err;
		}
	}
	return 0;
}

static bool memo_eq(const void *obj, const void *probe)
{
	return ((const struct peer_memo *)obj)->peer == probe;
}

static uint32_t ptr_hash(const void *p)
{
	uintptr_t v = (uintptr_t)p;

	return pw_hash_bytes(PW_FNV32_INIT, &v, sizeof(v));
}

/* The peer's identities among c->only: a few tests, no memo (it holds whole peer sets). */
static int peer_ids_only(struct cctx *c, const struct pw_netpol *np, const struct pw_np_peer *p,
			 struct idvec *out)
{
	size_t i;
	int err;

	for (i = 0; !p->ipblock && i < c->only->n; i++) {
		const struct pw_ident *id = pw_ident_get(&c->st->ids, c->only->v[i]);

		if (id && id->refs && peer_matches(np, p, id)) {
			err = idvec_push(out, id->id);
			if (err)
				return err;
		}
	}
	return 0;
}

static int peer_ids(struct cctx *c, const struct pw_netpol *np, const struct pw_np_peer *p,
		    struct idvec *out)
{
	uint32_t h = ptr_hash(p);
	struct peer_memo *m, **nv;
	size_t i;
	int err;

	if (c->only)
		return peer_ids_only(c, np, p, out);
	m = pw_htab_find(&c->memo, h, memo_eq, p);
	if (!m) {
		m = calloc(1, sizeof(*m));
		nv = realloc(c->memos, (c->n_memos + 1) * sizeof(*nv));
		if (!m || !nv) {
			free(m);
			if (nv)
				c->memos = nv;
			return -ENOMEM;
		}
		c->memos = nv;
		m->peer = p;
		err = peer_ids_compute(c, np, p, &m->ids);
		if (!err) {
			/* sorted once here, so a one-peer rule needs no sort per subject */
			idvec_sort_unique(&m->ids);
			err = pw_htab_insert(&c->memo, h, m);
		}
		if (err) {
			free(m->ids.v);
			free(m);
			return err;
		}
		c->memos[c->n_memos++] = m;
	}
	for (i = 0; i < m->ids.n; i++) {
		err = idvec_push(out, m->ids.v[i]);
		if (err)
			return err;
	}
	return 0;
}

static void memo_clear(struct cctx *c)
{
	size_t i;

	for (i = 0; i < c->n_memos; i++) {
		free(c->memos[i]->ids.v);
		free(c->memos[i]);
	}
	free(c->memos);
	pw_htab_clear(&c->memo);
}

/* First policy of namespace ns in the sorted list (or n_nps). */
static size_t nps_lower_bound(const struct cctx *c, const char *ns)
{
	size_t lo = 0, hi = c->n_nps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(c->nps[mid]->obj.u.np.namespace, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * An egress named port towards an ipBlock: every pod address in the block whose pod has the
 * name, at that pod's number, towards the address's host-prefix identity (held by
 * pw_named_cidrs_sync; an address without one gets nothing: never more than asked).
 */
static int emit_named_ipblock(struct cctx *c, const struct pw_ident *s, const struct pw_ipblock *b,
			      const struct pw_np_port *p, uint8_t dir, uint32_t cookie,
			      struct kvec *kv)
{
	size_t n_pod = pw_state_count(c->st, PW_KIND_POD);
	int err = 0;

	for (size_t k = 0; k < n_pod && !err; k++) {
		const struct pw_pod *pod = &pw_state_at(c->st, PW_KIND_POD, k)->obj.u.pod;
		int port = pw_pod_named_port(pod, p->port_name, p->proto);

		for (size_t a = 0; port > 0 && a < pod->n_ips && !err; a++) {
			const struct pw_cidr_ident *ci;
			struct pw_prefix hp;

			if (!pw_ipblock_holds(b, &pod->ips[a]))
				continue;
			pw_host_prefix(&pod->ips[a], &hp);
			ci = pw_cidr_find(&c->st->ids, &hp);
			if (ci && ci->refs)
				err = emit_range(kv, ci->id, dir, p->proto, (uint32_t)port,
						 (uint32_t)port, cookie);
		}
	}
	return err;
}

static int compile_rule(struct cctx *c, const struct pw_ident *s, const struct pw_netpol *np,
			uint8_t dir, const struct pw_np_rule *r, uint32_t cookie, struct kvec *kv)
{
	const struct pw_idtab *t = &c->st->ids;
	bool all_peers = !r->peers_set || !r->n_peers;
	bool all_ports = !r->ports_set || !r->n_ports;
	struct idvec peers = {0};
	size_t i, j;
	int err = 0;

	if (all_peers) {
		err = idvec_push(&peers, PW_ID_ANY);
	} else {
		for (i = 0; i < r->n_peers && !err; i++)
			err = peer_ids(c, np, &r->peers[i], &peers);
	}
	if (err)
		goto out;
	if (!all_peers && r->n_peers > 1)
		idvec_sort_unique(&peers);

	if (all_ports) {
		for (j = 0; j < peers.n && !err; j++)
			err = emit_range(kv, peers.v[j], dir, 0, 0, 0xffff, cookie);
		goto out;
	}
	for (i = 0; i < r->n_ports && !err; i++) {
		const struct pw_np_port *p = &r->ports[i];

		if (!p->port_set) {
			for (j = 0; j < peers.n && !err; j++)
				err = emit_range(kv, peers.v[j], dir, p->proto, 0, 0xffff, cookie);
		} else if (!p->port_name) {
			uint32_t hi = p->end_port ? p->end_port : p->port;

			for (j = 0; j < peers.n && !err; j++)
				err = emit_range(kv, peers.v[j], dir, p->proto, p->port, hi,
						 cookie);
		} else if (dir == PW_DIR_INGRESS) {
			/* the destination is the subject: every pod of it has the same ports */
			int port = pw_ident_named_port(s, p->port_name, p->proto);

			for (j = 0; port > 0 && j < peers.n && !err; j++)
				err = emit_range(kv, peers.v[j], dir, p->proto, (uint32_t)port,
						 (uint32_t)port, cookie);
		} else if (all_peers) {
			/* any destination: every pod identity that has the port, at its number */
			size_t n_d = c->only ? c->only->n : c->alive.n;

			for (j = 0; j < n_d && !err; j++) {
				const struct pw_ident *d =
					c->only ? pw_ident_get(t, c->only->v[j]) : c->alive_p[j];
				int port = d && d->refs
						   ? pw_ident_named_port(d, p->port_name, p->proto)
						   : -ENOENT;

				if (port > 0)
					err = emit_range(kv, d->id, dir, p->proto, (uint32_t)port,
							 (uint32_t)port, cookie);
			}
		} else {
			/* each destination identity at its own number */
			for (j = 0; j < peers.n && !err; j++) {
				const struct pw_ident *d = pw_ident_get(t, peers.v[j]);
				int port = pw_ident_named_port(d, p->port_name, p->proto);

				if (d && port > 0)
					err = emit_range(kv, d->id, dir, p->proto, (uint32_t)port,
							 (uint32_t)port, cookie);
			}
			/*
			 * ipBlock peers: each pod address in the block at its pod's number (never
			 * towards c->only's label identities; such a rule's subjects are compiled
			 * whole: dirty_policies)
			 */
			for (j = 0; j < r->n_peers && !err && !c->only; j++) {
				if (r->peers[j].ipblock)
					err = emit_named_ipblock(c, s, r->peers[j].ipblock, p, dir,
								 cookie, kv);
			}
		}
	}
out:
	free(peers.v);
	return err;
}

/*
 * A key in pw_dkey_cmp's order packed into two integers, with its emission number last: one
 * sort gives the key order and, among equal keys, the first emitted. Sorting these costs far
 * less than sorting whole keys with a field-by-field comparator: a subject can have thousands.
 */
struct seqkey {
	uint64_t hi; /* dir, peer */
	uint64_t lo; /* proto, port_bits, port, emission number */
};

static int cmp_seqkey(const void *a, const void *b)
{
	const struct seqkey *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static struct seqkey seqkey_of(const struct pw_dkey *k, uint32_t seq)
{
	return (struct seqkey){
		.hi = (uint64_t)k->dir << 32 | k->peer,
		.lo = (uint64_t)k->proto << 56 | (uint64_t)k->port_bits << 48 |
		      (uint64_t)k->port << 32 | seq,
	};
}

/* First index of keys[0..n) not ordered before (dir, peer): keys sort by dir, then peer. */
static size_t dkey_lower_bound(const struct pw_dkey *keys, size_t n, uint8_t dir, uint32_t peer)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (keys[mid].dir < dir || (keys[mid].dir == dir && keys[mid].peer < peer))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * An isolated direction whose enforced set names no "any peer": the datapath skips it.
 * PW_ID_ANY is 0, the lowest peer: a direction has a key towards any peer exactly when its
 * first key is one (a search, not a walk of every key: this ran on every subject of a change).
 */
static void set_no_any_peer(struct pw_dsubject *out)
{
	size_t i;
	uint8_t dir;

	out->flags &= ~(uint32_t)(PW_EP_F_NO_ANY_PEER_INGRESS | PW_EP_F_NO_ANY_PEER_EGRESS);
	for (dir = 0; dir < PW_DIR_MAX; dir++) {
		if (!(out->flags & (dir ? PW_EP_F_ISOLATE_EGRESS : PW_EP_F_ISOLATE_INGRESS)))
			continue;
		i = dkey_lower_bound(out->keys, out->n, dir, PW_ID_ANY);
		if (i == out->n || out->keys[i].dir != dir || out->keys[i].peer != PW_ID_ANY)
			out->flags |=
				dir ? PW_EP_F_NO_ANY_PEER_EGRESS : PW_EP_F_NO_ANY_PEER_INGRESS;
	}
}

static int compile_subject(struct cctx *c, const struct pw_ident *s, struct pw_dsubject *out)
{
	struct pw_dkey *keys;
	struct seqkey *seq;
	struct kvec kv = {0};
	size_t i, j, r, k;
	uint8_t dir;
	bool audit;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->id = s->id;
	/* only the subject's namespace can select it */
	for (i = nps_lower_bound(c, s->ns); i < c->n_nps && !err; i++) {
		const struct pw_netpol *np = &c->nps[i]->obj.u.np;

		if (strcmp(np->namespace, s->ns))
			break;
		if (!np_selects(np, s))
			continue;
		audit = pw_np_audit(c->st, np);
		for (dir = 0; dir < PW_DIR_MAX && !err; dir++) {
			const struct pw_np_rule *rules = dir ? np->egress : np->ingress;
			size_t n = dir ? np->n_egress : np->n_ingress, first = kv.n;

			if (!(np->types & (dir ? PW_NP_EGRESS : PW_NP_INGRESS)))
				continue;
			if (audit)
				out->flags |= dir ? PW_EP_F_AUDIT_ISOLATE_EGRESS
						  : PW_EP_F_AUDIT_ISOLATE_INGRESS;
			else
				out->flags |=
					dir ? PW_EP_F_ISOLATE_EGRESS : PW_EP_F_ISOLATE_INGRESS;
			for (r = 0; r < n && !err; r++) {
				uint32_t cookie = pw_cookie_find(&c->st->ids, np->namespace,
								 np->name, dir, (uint32_t)r);

				err = compile_rule(c, s, np, dir, &rules[r], cookie, &kv);
			}
			for (j = first; audit && j < kv.n; j++)
				kv.v[j].dir |= PW_POL_DIR_AUDIT;
		}
	}
	if (err) {
		free(kv.v);
		return err;
	}
	/*
	 * Where an enforced policy isolates, the datapath never needs the audit entries: an
	 * enforced pass stays a pass with more allows. The flag goes, so it never looks; the
	 * entries stay, for explain's as-if-audit-enforced verdict of an enforced deny.
	 */
	for (dir = 0; dir < PW_DIR_MAX; dir++) {
		if (out->flags & (dir ? PW_EP_F_ISOLATE_EGRESS : PW_EP_F_ISOLATE_INGRESS))
			out->flags &= ~(dir ? PW_EP_F_AUDIT_ISOLATE_EGRESS
					    : PW_EP_F_AUDIT_ISOLATE_INGRESS);
	}
	/* for duplicate keys the first policy (by namespace/name) and rule attributes */
	seq = malloc((kv.n + 1) * sizeof(*seq));
	keys = pw_dkeys_alloc(kv.n);
	if (!seq || !keys || kv.n > UINT32_MAX) {
		free(seq);
		pw_dkeys_put(keys);
		free(kv.v);
		return seq && keys ? -E2BIG : -ENOMEM;
	}
	for (i = j = 0; i < kv.n; i++) {
		/* towards c->only's peers only: ANY and CIDR peers (all_peers, ipBlock) go */
		if (!c->only || idvec_has(c->only, kv.v[i].peer))
			seq[j++] = seqkey_of(&kv.v[i], (uint32_t)i);
	}
	qsort(seq, j, sizeof(*seq), cmp_seqkey);
	for (i = k = 0; i < j; i++) {
		if (k && seq[i].hi == seq[i - 1].hi && seq[i].lo >> 32 == seq[i - 1].lo >> 32)
			continue;
		keys[k++] = kv.v[(uint32_t)seq[i].lo];
	}
	free(seq);
	free(kv.v);
	out->n = k;
	out->keys = keys;
	set_no_any_peer(out);
	return 0;
}

/*
 * The subject s, whose entries towards every peer outside c->changed are those of old: its
 * entries towards the changed identities are compiled (a few peers, not every identity) and
 * put in place of old's. Keys with different peers never merge, so this is what compiling s
 * whole gives (tests/test_compile.c compares every incremental compile with a full one).
 */
static int compile_subject_peers(struct cctx *c, const struct pw_ident *s,
				 const struct pw_dsubject *old, struct pw_dsubject *out)
{
	/* every direction byte a key can have, in key order */
	static const uint8_t dirs[] = {PW_DIR_INGRESS, PW_DIR_EGRESS,
				       PW_DIR_INGRESS | PW_POL_DIR_AUDIT,
				       PW_DIR_EGRESS | PW_POL_DIR_AUDIT};
	struct pw_dsubject fresh;
	struct pw_dkey *keys;
	size_t i = 0, j = 0, k = 0;
	int err;

	c->only = &c->changed;
	err = compile_subject(c, s, &fresh);
	c->only = NULL;
	if (err)
		return err;
	keys = pw_dkeys_alloc(old->n + fresh.n);
	if (!keys) {
		pw_dkeys_put(fresh.keys);
		return -ENOMEM;
	}
	/*
	 * Keys sort by (dir, peer): each changed peer's old keys are one run per direction byte
	 * (enforced and audit), found by search, and fresh holds keys towards changed peers only,
	 * in the same order. So the old keys between those runs are copied whole, and fresh's run
	 * of each (dir, peer) goes where the old run was (this merge visited every key of every
	 * subject a pod's label change touched).
	 */
	for (size_t d = 0; d < sizeof(dirs); d++) {
		for (size_t p = 0; p < c->changed.n; p++) {
			uint32_t peer = c->changed.v[p];
			size_t lo = dkey_lower_bound(old->keys, old->n, dirs[d], peer), hi;

			if (peer == UINT32_MAX)
				hi = dkey_lower_bound(old->keys, old->n, dirs[d] + 1, 0);
			else
				hi = dkey_lower_bound(old->keys, old->n, dirs[d], peer + 1);

			/* lo >= i: c->changed is sorted and unique (identities by id) */
			memcpy(keys + k, old->keys + i, (lo - i) * sizeof(*keys));
			k += lo - i;
			while (j < fresh.n && fresh.keys[j].dir == dirs[d] &&
			       fresh.keys[j].peer == peer)
				keys[k++] = fresh.keys[j++];
			i = hi;
		}
	}
	memcpy(keys + k, old->keys + i, (old->n - i) * sizeof(*keys));
	k += old->n - i;
	if (j != fresh.n) {
		/* a fresh key outside the runs: the compiler broke its own invariant */
		pw_dkeys_put(fresh.keys);
		pw_dkeys_put(keys);
		return -EPROTO;
	}
	pw_dkeys_put(fresh.keys);
	*out = fresh; /* its isolation flags: the same policies select s */
	out->keys = keys;
	out->n = k;
	set_no_any_peer(out); /* fresh's keys were towards the changed peers only */
	return 0;
}

/* How a policy's entries can change when an identity is born or dies */
enum np_dep {
	NP_DEP_NONE,
	NP_DEP_PEER,  /* only its entries towards that identity */
	NP_DEP_WHOLE, /* others too: egress named ports towards an ipBlock follow the pods */
};

/* Could this policy's entries change when identity id is born or dies? */
static enum np_dep np_depends_on(const struct pw_netpol *np, const struct pw_ident *id)
{
	const struct pw_np_rule *rules[2] = {np->ingress, np->egress};
	size_t nr[2] = {np->n_ingress, np->n_egress};
	size_t k, i, j;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < nr[k]; i++) {
			const struct pw_np_rule *r = &rules[k][i];

			/* egress named ports towards an ipBlock: the pods in the block */
			if (k == 1 && pw_rule_named_ipblock(r))
				return NP_DEP_WHOLE;
			if (!r->peers_set || !r->n_peers) {
				/* egress named ports, no peers: each identity having them */
				for (j = 0; k == 1 && j < r->n_ports; j++) {
					if (r->ports[j].port_name)
						return NP_DEP_PEER;
				}
				continue;
			}
			for (j = 0; j < r->n_peers; j++) {
				if (peer_matches(np, &r->peers[j], id))
					return NP_DEP_PEER;
			}
		}
	}
	return NP_DEP_NONE;
}

static bool np_has_ipblock(const struct pw_netpol *np)
{
	const struct pw_np_rule *rules[2] = {np->ingress, np->egress};
	size_t nr[2] = {np->n_ingress, np->n_egress};
	size_t k, i, j;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < nr[k]; i++) {
			for (j = 0; j < rules[k][i].n_peers; j++) {
				if (rules[k][i].peers[j].ipblock)
					return true;
			}
		}
	}
	return false;
}

/* --- incremental work list ------------------------------------------------------------------- */

/*
 * The dirty set is "every local subject some dirty policy selects, plus every identity born,
 * died or changed locality". Computing it policy by policy over every identity is quadratic
 * when a request brings thousands of identities and policies at once (each new identity
 * re-marked the subjects of every policy depending on it). So: collect the dirty policies
 * once, without duplicates, then visit each local subject once and test only the dirty
 * policies of its own namespace (a policy selects pods of its namespace only).
 */
struct npvec {
	size_t n, cap;
	const struct pw_netpol **v;
};

static int npvec_push(struct npvec *nv, const struct pw_netpol *np)
{
	if (nv->n == nv->cap) {
		size_t nc = nv->cap ? nv->cap * 2 : 32;
		const struct pw_netpol **v = realloc(nv->v, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		nv->v = v;
		nv->cap = nc;
	}
	nv->v[nv->n++] = np;
	return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const void *const *)a;
	uintptr_t y = (uintptr_t) * (const void *const *)b;

	return x < y ? -1 : x > y;
}

/* by namespace, then address: one policy object appears once */
static int cmp_np_ns(const void *a, const void *b)
{
	const struct pw_netpol *x = *(const struct pw_netpol *const *)a;
	const struct pw_netpol *y = *(const struct pw_netpol *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : cmp_ptr(a, b);
}

static void npvec_sort_unique(struct npvec *nv, int (*cmp)(const void *, const void *))
{
	size_t i, k = 0;

	if (!nv->n)
		return;
	qsort(nv->v, nv->n, sizeof(*nv->v), cmp);
	for (i = 0; i < nv->n; i++) {
		if (!k || nv->v[k - 1] != nv->v[i])
			nv->v[k++] = nv->v[i];
	}
	nv->n = k;
}

/* First policy of namespace ns in nv (sorted by cmp_np_ns), or nv->n. */
static size_t npvec_lower_bound(const struct npvec *nv, const char *ns)
{
	size_t lo = 0, hi = nv->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(nv->v[mid]->namespace, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Did a Namespace written since the last commit change the default mode of ns's policies? */
static bool ns_mode_changed(const struct pw_state *st, const char *ns)
{
	size_t i;

	for (i = 0; i < st->n_log; i++) {
		const struct pw_change *ch = &st->log[i];
		const struct pw_namespace *o, *n;

		if (ch->kind != PW_KIND_NAMESPACE)
			continue;
		o = ch->old ? &ch->old->obj.u.ns : NULL;
		n = ch->cur ? &ch->cur->obj.u.ns : NULL;
		if (strcmp((o ? o : n)->name, ns))
			continue;
		if (pw_ns_audit(o) != pw_ns_audit(n))
			return true;
	}
	return false;
}

/*
 * Policies whose subjects the changes since the last commit may have changed: in out, those
 * whose subjects must be compiled whole; in peer_only, those that changed only towards the
 * changed identities (a peer born or died, the policy itself as it was).
 */
static int dirty_policies(struct cctx *c, const struct pw_ident *const *changed, size_t n_changed,
			  struct npvec *out, struct npvec *peer_only)
{
	const struct pw_state *st = c->st;
	bool cidrs = pw_idtab_cidrs_changed(&st->ids);
	size_t n_logged, i, j;
	int err = 0;

	/* written policies, both versions: the old one's subjects lose its entries */
	for (i = 0; i < st->n_log && !err; i++) {
		const struct pw_change *ch = &st->log[i];

		if (ch->kind != PW_KIND_NETPOL)
			continue;
		if (ch->old)
			err = npvec_push(out, &ch->old->obj.u.np);
		if (!err && ch->cur)
			err = npvec_push(out, &ch->cur->obj.u.np);
	}
	if (err)
		return err;
	npvec_sort_unique(out, cmp_ptr);
	n_logged = out->n;

	/* current policies not written whose peers saw an identity come or go */
	for (j = 0; j < c->n_nps && !err; j++) {
		const struct pw_netpol *np = &c->nps[j]->obj.u.np;
		enum np_dep dep = NP_DEP_NONE, d;

		if (n_logged && bsearch(&np, out->v, n_logged, sizeof(*out->v), cmp_ptr))
			continue;
		if (cidrs && np_has_ipblock(np))
			dep = NP_DEP_WHOLE;
		if (!dep && !pw_labels_get(&np->annotations, PW_ANNOT_ENFORCEMENT) &&
		    ns_mode_changed(st, np->namespace))
			dep = NP_DEP_WHOLE;
		for (i = 0; i < n_changed && dep != NP_DEP_WHOLE; i++) {
			d = np_depends_on(np, changed[i]);
			dep = d > dep ? d : dep;
		}
		if (dep == NP_DEP_WHOLE)
			err = npvec_push(out, np);
		else if (dep == NP_DEP_PEER)
			err = npvec_push(peer_only, np);
	}
	if (!err) {
		npvec_sort_unique(out, cmp_np_ns);
		npvec_sort_unique(peer_only, cmp_np_ns);
	}
	return err;
}

/* Does a policy of nps (sorted by cmp_np_ns) select subject s? */
static bool nps_select(const struct npvec *nps, const struct pw_ident *s)
{
	size_t j;

	for (j = npvec_lower_bound(nps, s->ns); j < nps->n; j++) {
		const struct pw_netpol *np = nps->v[j];

		if (strcmp(np->namespace, s->ns))
			break;
		if (pw_selector_matches(&np->pod_sel, &s->pod_labels))
			return true;
	}
	return false;
}

/*
 * Subjects whose entries the changes since the last commit may have changed: dirty, to compile
 * whole; peers, to compile towards the changed identities only (compile_subject_peers).
 */
static int dirty_subjects(struct cctx *c, struct idvec *dirty, struct idvec *peers)
{
	const struct pw_idtab *t = &c->st->ids;
	const struct pw_ident **changed;
	struct npvec nps = {0}, nps_peer = {0};
	size_t i, n_changed = 0;
	int err = 0;

	changed = malloc((t->n_ids + 1) * sizeof(*changed));
	if (!changed)
		return -ENOMEM;
	/* identities born or died, or that gained or lost their last local pod */
	for (i = 0; i < t->n_ids && !err; i++) {
		const struct pw_ident *id = t->ids[i];

		if (!id->refs == !id->refs_synced && !id->local_refs == !id->local_synced)
			continue;
		changed[n_changed++] = id;
		err = idvec_push(dirty, id->id);
		if (!err)
			err = idvec_push(&c->changed, id->id); /* ids[] is by id: sorted */
	}
	if (!err)
		err = dirty_policies(c, changed, n_changed, &nps, &nps_peer);
	for (i = 0; i < c->alive.n && !err && (nps.n || nps_peer.n); i++) {
		const struct pw_ident *s = c->alive_p[i];

		if (!s->local_refs)
			continue;
		if (nps_select(&nps, s))
			err = idvec_push(dirty, s->id);
		else if (nps_select(&nps_peer, s))
			err = idvec_push(peers, s->id);
	}
	if (!err)
		idvec_sort_unique(dirty);
	free(changed);
	free(nps.v);
	free(nps_peer.v);
	return err;
}

struct ipc_item {
	struct pw_dipc e;
	const struct pw_pod *pod; /* NULL: a referenced prefix */
};

static int cmp_ipc_item(const void *a, const void *b)
{
	const struct ipc_item *x = a, *y = b;
	int c = pw_dipc_cmp(&x->e, &y->e);

	if (c)
		return c;
	/*
	 * One address, several owners: a pod wins over a prefix, the first pod by (namespace,
	 * name) over others. Compared here, on the rare tie, rather than by sorting every pod
	 * by name first on every compile.
	 */
	if (!x->pod || !y->pod)
		return !x->pod - !y->pod;
	c = strcmp(x->pod->namespace, y->pod->namespace);
	return c ? c : strcmp(x->pod->name, y->pod->name);
}

static uint32_t longest_cidr(const struct pw_idtab *t, const struct pw_addr *a)
{
	const struct pw_cidr_ident *best = NULL;
	size_t i;

	for (i = 0; i < t->n_cidrs; i++) {
		const struct pw_cidr_ident *c = t->cidrs[i];

		if (c->refs && prefix_holds(&c->prefix, a) &&
		    (!best || c->prefix.prefixlen > best->prefix.prefixlen))
			best = c;
	}
	return best ? best->id : 0;
}

/*
 * The ipcache holds pod addresses (each with its pod's identity) and referenced prefixes. Only
 * a Pod written (addresses, labels), a Namespace written (its labels are in its pods'
 * identities) or a prefix born or died can change it: otherwise the last result stands.
 */
static bool ipcache_unchanged(const struct pw_state *st)
{
	size_t i;

	if (pw_idtab_cidrs_changed(&st->ids))
		return false;
	for (i = 0; i < st->n_log; i++) {
		if (st->log[i].kind == PW_KIND_POD || st->log[i].kind == PW_KIND_NAMESPACE)
			return false;
	}
	return true;
}

static void host_prefix_of(const struct pw_addr *a, struct pw_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = a->family;
	p->prefixlen = a->family == PW_FAMILY_V4 ? 32 : 128;
	memcpy(p->a, a->a, sizeof(p->a));
}

/* past this many addresses written, the ipcache is rebuilt whole */
#define IPCACHE_TOUCHED_MAX 64

/*
 * The host prefixes of the Pods written since the last commit, old and new versions, sorted
 * and unique in *touched: only their ipcache entries can have changed when no Namespace was
 * written (its labels are in its pods' identities) and no prefix was born or died. Returns
 * false when the whole ipcache must be rebuilt.
 */
static bool ipcache_touched(const struct pw_state *st, struct pw_dipc **touched, size_t *n)
{
	size_t i, j, k, cap = 0;
	struct pw_dipc *v;

	*touched = NULL;
	*n = 0;
	if (pw_idtab_cidrs_changed(&st->ids))
		return false;
	for (i = 0; i < st->n_log; i++) {
		if (st->log[i].kind == PW_KIND_NAMESPACE)
			return false;
		if (st->log[i].kind == PW_KIND_POD)
			cap += 2 * PW_POD_MAX_IPS;
	}
	/* many pods: one sort of every address costs less than a lookup per address each */
	if (cap > IPCACHE_TOUCHED_MAX)
		return false;
	v = calloc(cap + 1, sizeof(*v));
	if (!v)
		return false;
	for (i = k = 0; i < st->n_log; i++) {
		const struct pw_sobj *ver[2] = {st->log[i].old, st->log[i].cur};

		for (j = 0; st->log[i].kind == PW_KIND_POD && j < 2; j++) {
			const struct pw_pod *pod = ver[j] ? &ver[j]->obj.u.pod : NULL;

			for (size_t a = 0; pod && a < pod->n_ips; a++)
				host_prefix_of(&pod->ips[a], &v[k++].prefix);
		}
	}
	if (k)
		qsort(v, k, sizeof(*v), pw_dipc_cmp);
	for (i = j = 0; i < k; i++) {
		if (!j || pw_dipc_cmp(&v[j - 1], &v[i]))
			v[j++] = v[i];
	}
	*touched = v;
	*n = j;
	return true;
}

/* v: a few prefixes (IPCACHE_TOUCHED_MAX at most), asked once per pod address */
static bool dipc_in(const struct pw_dipc *v, size_t n, const struct pw_dipc *e)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].prefix.family == e->prefix.family &&
		    v[i].prefix.prefixlen == e->prefix.prefixlen &&
		    !memcmp(v[i].prefix.a, e->prefix.a, sizeof(e->prefix.a)))
			return true;
	}
	return false;
}

/*
 * The ipcache entries of prev, with those of the touched prefixes replaced by fresh (sorted,
 * unique, touched prefixes only): what a full rebuild gives, since no other entry changed.
 */
static int ipcache_merge(const struct pw_desired *prev, const struct pw_dipc *touched,
			 size_t n_touched, const struct pw_dipc *fresh, size_t n_fresh,
			 struct pw_desired *out)
{
	size_t i = 0, j = 0, k = 0;

	out->ipc = malloc((prev->n_ipc + n_fresh + 1) * sizeof(*out->ipc));
	if (!out->ipc)
		return -ENOMEM;
	while (i < prev->n_ipc || j < n_fresh) {
		if (i < prev->n_ipc && dipc_in(touched, n_touched, &prev->ipc[i]))
			i++;
		else if (j == n_fresh ||
			 (i < prev->n_ipc && pw_dipc_cmp(&prev->ipc[i], &fresh[j]) < 0))
			out->ipc[k++] = prev->ipc[i++];
		else
			out->ipc[k++] = fresh[j++];
	}
	out->n_ipc = k;
	return 0;
}

static int compile_ipcache(struct cctx *c, const struct pw_desired *prev, struct pw_desired *out)
{
	const struct pw_state *st = c->st;
	const struct pw_idtab *t = &st->ids;
	size_t n_pods = pw_state_count(st, PW_KIND_POD), i, j, n = 0, k, n_touched = 0;
	struct pw_dipc *touched = NULL, *fresh = NULL;
	struct ipc_item *items = NULL;
	bool part;
	int err = -ENOMEM;

	if (prev && ipcache_unchanged(st)) {
		out->ipc = malloc((prev->n_ipc + 1) * sizeof(*out->ipc));
		if (!out->ipc)
			return -ENOMEM;
		if (prev->n_ipc)
			memcpy(out->ipc, prev->ipc, prev->n_ipc * sizeof(*out->ipc));
		out->n_ipc = prev->n_ipc;
		return 0;
	}
	/*
	 * A few pods written: rebuild their addresses' entries only (sorting every address was
	 * a fifth of a label change's time at 10,000 pods).
	 */
	part = prev && ipcache_touched(st, &touched, &n_touched);
	items = malloc((n_pods * PW_POD_MAX_IPS + t->n_cidrs + 1) * sizeof(*items));
	if (!items)
		goto out;
	for (i = 0; i < n_pods; i++) {
		const struct pw_sobj *o = pw_state_at(st, PW_KIND_POD, i);
		const struct pw_pod *pod = &o->obj.u.pod;

		for (j = 0; j < pod->n_ips; j++) {
			struct ipc_item *it = &items[n];

			memset(it, 0, sizeof(*it));
			host_prefix_of(&pod->ips[j], &it->e.prefix);
			if (part && !dipc_in(touched, n_touched, &it->e))
				continue;
			it->e.identity = o->ident->id;
			it->e.cidr_identity = longest_cidr(t, &pod->ips[j]);
			it->pod = pod;
			n++;
		}
	}
	for (i = 0; i < t->n_cidrs; i++) {
		const struct pw_cidr_ident *ci = t->cidrs[i];
		struct ipc_item *it = &items[n];

		if (!ci->refs)
			continue;
		memset(it, 0, sizeof(*it));
		it->e.prefix = ci->prefix;
		if (part && !dipc_in(touched, n_touched, &it->e))
			continue;
		it->e.identity = ci->id;
		it->e.cidr_identity = ci->id;
		n++;
	}
	/* one entry per prefix: the first of its owners in cmp_ipc_item's order */
	if (n)
		qsort(items, n, sizeof(*items), cmp_ipc_item);
	fresh = malloc((n + 1) * sizeof(*fresh));
	if (!fresh)
		goto out;
	for (i = k = 0; i < n; i++) {
		if (k && !pw_dipc_cmp(&fresh[k - 1], &items[i].e))
			continue;
		fresh[k++] = items[i].e;
	}
	if (part) {
		err = ipcache_merge(prev, touched, n_touched, fresh, k, out);
		goto out;
	}
	out->ipc = fresh;
	out->n_ipc = k;
	fresh = NULL;
	err = 0;
out:
	free(items);
	free(fresh);
	free(touched);
	return err;
}

static bool is_endpoint(const struct pw_sobj *o)
{
	return o->local && o->ep_id && (o->ifindex || o->cgroup_id);
}

/* Endpoints: every local pod bound to an interface or a cgroup (found at every compile). */
static int compile_eps(struct cctx *c, struct pw_desired *out)
{
	const struct pw_state *st = c->st;
	size_t n_pods = pw_state_count(st, PW_KIND_POD), n_eps = 0, i, j;

	/*
	 * Room for the endpoints only: a few hundred of the node's pods among a cluster's
	 * 10,000, and the desired state keeps this array (room for every pod was 1.2 MiB).
	 */
	for (i = 0; i < n_pods; i++)
		n_eps += is_endpoint(pw_state_at(st, PW_KIND_POD, i));
	out->eps = calloc(n_eps + 1, sizeof(*out->eps));
	if (!out->eps)
		return -ENOMEM;
	for (i = 0; i < n_pods; i++) {
		const struct pw_sobj *o = pw_state_at(st, PW_KIND_POD, i);
		const struct pw_pod *pod = &o->obj.u.pod;
		const struct pw_dsubject *s;
		const struct pw_quarantine *q;
		struct pw_endpoint *ep;

		if (!is_endpoint(o))
			continue;
		ep = &out->eps[out->n_eps++];
		ep->ep_id = o->ep_id;
		ep->identity = o->ident->id;
		ep->ifindex = o->ifindex;
		ep->cgroup_id = o->cgroup_id;
		s = pw_desired_subject(out, o->ident->id);
		ep->flags = s ? s->flags : 0;
		q = pw_qtab_find(&st->qt, pod->namespace, pod->name);
		if (q)
			ep->flags |=
				PW_EP_F_QUARANTINE | (q->allow_dns ? PW_EP_F_QUARANTINE_DNS : 0);
		for (j = 0; j < pod->n_ips; j++) {
			if (pod->ips[j].family == PW_FAMILY_V4 && ep->n_v4 < PW_EP_MAX_V4)
				memcpy(&ep->v4[ep->n_v4++], pod->ips[j].a, 4);
			else if (pod->ips[j].family == PW_FAMILY_V6 && ep->n_v6 < PW_EP_MAX_V6)
				memcpy(ep->v6[ep->n_v6++], pod->ips[j].a, 16);
		}
	}
	return 0;
}

static int cmp_ep(const void *a, const void *b)
{
	const struct pw_endpoint *x = a, *y = b;

	return x->ep_id < y->ep_id ? -1 : x->ep_id > y->ep_id;
}

int pw_compile(const struct pw_state *st, const struct pw_desired *prev, struct pw_desired *out)
{
	struct cctx c = {.st = st};
	struct pw_desired d = {0};
	struct idvec dirty = {0}, peers = {0};
	size_t i, n_subj = 0;
	int err = -ENOMEM;

	c.n_nps = pw_state_count(st, PW_KIND_NETPOL);
	c.nps = malloc((c.n_nps + 1) * sizeof(*c.nps));
	if (!c.nps)
		goto out;
	for (i = 0; i < c.n_nps; i++)
		c.nps[i] = pw_state_at(st, PW_KIND_NETPOL, i);
	qsort(c.nps, c.n_nps, sizeof(*c.nps), cmp_np);
	c.alive_p = malloc((st->ids.n_ids + 1) * sizeof(*c.alive_p));
	if (!c.alive_p)
		goto out;
	/* ids[] is sorted by id, so both arrays are too */
	for (i = 0; i < st->ids.n_ids; i++) {
		const struct pw_ident *id = st->ids.ids[i];

		if (id->refs) {
			err = idvec_push(&c.alive, id->id);
			if (err)
				goto out;
			c.alive_p[c.alive.n - 1] = id;
			n_subj += id->local_refs ? 1 : 0;
		}
	}
	if (prev) {
		err = dirty_subjects(&c, &dirty, &peers);
		if (err)
			goto out;
	}

	/* subjects: identities with pods on this node */
	err = -ENOMEM;
	d.subjects = calloc(n_subj + 1, sizeof(*d.subjects));
	if (!d.subjects)
		goto out;
	for (i = 0; i < c.alive.n; i++) {
		const struct pw_ident *s = c.alive_p[i];
		const struct pw_dsubject *old;
		struct pw_dsubject *ds = &d.subjects[d.n_subjects];

		if (!s->local_refs)
			continue;
		old = prev && !idvec_has(&dirty, s->id) ? pw_desired_subject(prev, s->id) : NULL;
		if (old && idvec_has(&peers, s->id)) {
			err = compile_subject_peers(&c, s, old, ds);
			if (err)
				goto out;
			ds->carried = false;
			d.n_recompiled++;
			d.n_recompiled_peers++;
		} else if (old) {
			/* its keys are never written: shared with prev, not copied */
			*ds = *old;
			ds->carried = true;
			ds->keys = pw_dkeys_share(old->keys);
		} else {
			err = compile_subject(&c, s, ds);
			if (err)
				goto out;
			ds->carried = false;
			d.n_recompiled++;
		}
		d.n_subjects++;
	}
	/* endpoint flags come from the subjects, so subjects first */
	err = compile_eps(&c, &d);
	if (!err)
		err = compile_ipcache(&c, prev, &d);
	if (err)
		goto out;
	qsort(d.eps, d.n_eps, sizeof(*d.eps), cmp_ep);
	d.gen = ++compile_gen;
	d.carried_from = prev ? prev->gen : 0;
	pw_desired_clear(out);
	*out = d;
	memset(&d, 0, sizeof(d));
out:
	pw_desired_clear(&d);
	memo_clear(&c);
	free(c.nps);
	free(c.alive.v);
	free(c.alive_p);
	free(c.by_ns);
	free(dirty.v);
	free(peers.v);
	free(c.changed.v);
	return err;
}
