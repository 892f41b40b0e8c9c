/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * FNV-1a hashing and a small open-addressing hash index of pointers: the control plane's one
 * hash table (the core's object, identity and cookie indexes, the daemon's fingerprints).
 */
#ifndef PW_CTL_HTAB_H
#define PW_CTL_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * FNV-1a: short keys, no adversary that gains from collisions beyond a slower lookup. Chain
 * calls by passing the last result as h; start from PW_FNV32_INIT / PW_FNV64_INIT.
 */
#define PW_FNV32_INIT 2166136261u
#define PW_FNV64_INIT 0xcbf29ce484222325ull
uint32_t pw_hash_bytes(uint32_t h, const void *p, size_t n);
uint32_t pw_hash_str(const char *s);
uint64_t pw_hash64_bytes(uint64_t h, const void *p, size_t n);

/* --- a small open-addressing hash index of pointers (the caller owns the objects) ------------- */

struct pw_htab {
	size_t cap;  /* power of two, 0 when empty */
	size_t n;    /* live entries */
	size_t used; /* live + tombstones */
	void **slot;
	uint32_t *hash;
};

typedef bool (*pw_htab_eq_fn)(const void *obj, const void *probe);

int pw_htab_insert(struct pw_htab *t, uint32_t hash, void *obj);
void *pw_htab_find(const struct pw_htab *t, uint32_t hash, pw_htab_eq_fn eq, const void *probe);
/* removes obj itself (pointer identity) */
bool pw_htab_remove(struct pw_htab *t, uint32_t hash, const void *obj);
void pw_htab_clear(struct pw_htab *t);
/* The object in slot i (i < t->cap), NULL when the slot is empty: to walk every entry. */
void *pw_htab_slot(const struct pw_htab *t, size_t i);

#endif /* PW_CTL_HTAB_H */
