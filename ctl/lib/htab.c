// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

/* --- hash index ------------------------------------------------------------------------------- */

#define HTAB_TOMB ((void *)1)

uint32_t pw_hash_bytes(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

uint32_t pw_hash_str(const char *s)
{
	return pw_hash_bytes(PW_FNV32_INIT, s, strlen(s));
}

uint64_t pw_hash64_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int htab_grow(struct pw_htab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 16, i, j;
	void **slot;
	uint32_t *hash;

	/* a table full of tombstones is rebuilt at the same size */
	if (t->cap && t->n * 4 < t->cap)
		cap = t->cap;
	slot = calloc(cap, sizeof(*slot));
	hash = calloc(cap, sizeof(*hash));
	if (!slot || !hash) {
		free(slot);
		free(hash);
		return -ENOMEM;
	}
	for (i = 0; i < t->cap; i++) {
		if (!t->slot[i] || t->slot[i] == HTAB_TOMB)
			continue;
		for (j = t->hash[i] & (cap - 1); slot[j]; j = (j + 1) & (cap - 1))
			;
		slot[j] = t->slot[i];
		hash[j] = t->hash[i];
	}
	free(t->slot);
	free(t->hash);
	t->slot = slot;
	t->hash = hash;
	t->cap = cap;
	t->used = t->n;
	return 0;
}

int pw_htab_insert(struct pw_htab *t, uint32_t hash, void *obj)
{
	size_t j;
	int err;

	if ((t->used + 1) * 4 > t->cap * 3) {
		err = htab_grow(t);
		if (err)
			return err;
	}
	for (j = hash & (t->cap - 1); t->slot[j] && t->slot[j] != HTAB_TOMB;
	     j = (j + 1) & (t->cap - 1))
		;
	if (!t->slot[j])
		t->used++;
	t->slot[j] = obj;
	t->hash[j] = hash;
	t->n++;
	return 0;
}

void *pw_htab_find(const struct pw_htab *t, uint32_t hash, pw_htab_eq_fn eq, const void *probe)
{
	size_t j;

	if (!t->cap)
		return NULL;
	for (j = hash & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1)) {
		if (t->slot[j] != HTAB_TOMB && t->hash[j] == hash && eq(t->slot[j], probe))
			return t->slot[j];
	}
	return NULL;
}

bool pw_htab_remove(struct pw_htab *t, uint32_t hash, const void *obj)
{
	size_t j;

	if (!t->cap)
		return false;
	for (j = hash & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1)) {
		if (t->slot[j] == obj) {
			t->slot[j] = HTAB_TOMB;
			t->n--;
			return true;
		}
	}
	return false;
}

void pw_htab_clear(struct pw_htab *t)
{
	if (!t)
		return;
	free(t->slot);
	free(t->hash);
	memset(t, 0, sizeof(*t));
}

void *pw_htab_slot(const struct pw_htab *t, size_t i)
{
	return i < t->cap && t->slot[i] != HTAB_TOMB ? t->slot[i] : NULL;
}
