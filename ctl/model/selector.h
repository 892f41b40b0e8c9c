/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Label sets and Kubernetes label selectors (metav1.LabelSelector): storage, matching and a
 * canonical string form, so the identity allocator and the selector cache can hash and
 * deduplicate them.
 *
 * Conventions: functions return 0 or -errno; *_clear() frees what a struct owns and leaves it
 * zeroed (reusable); *_free() also frees the struct itself. All of them accept NULL. A
 * destination (dst, or the struct being added to) is zeroed or valid, never garbage: its old
 * contents are freed or extended. Matching and the string forms are pure and thread-safe.
 */
#ifndef PW_CTL_SELECTOR_H
#define PW_CTL_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct pw_label {
	char *key;
	char *value;
};

/*
 * A string map kept sorted by key, keys unique: labels and annotations. v is one allocation
 * holding the pairs and their strings (selector.c): change it only through pw_labels_*.
 */
struct pw_labels {
	size_t n;
	struct pw_label *v;
};

/* Insert or replace key. */
int pw_labels_set(struct pw_labels *l, const char *key, const char *value);
/* Value of key, or NULL when the key is absent. NULL l is an empty set. */
const char *pw_labels_get(const struct pw_labels *l, const char *key);
int pw_labels_copy(struct pw_labels *dst, const struct pw_labels *src);
bool pw_labels_equal(const struct pw_labels *a, const struct pw_labels *b);
void pw_labels_clear(struct pw_labels *l);
/* "k1=v1,k2=v2", sorted by key; "" for an empty set. *out is malloc'ed. */
int pw_labels_str(const struct pw_labels *l, char **out);

enum pw_sel_op {
	PW_SEL_IN = 0,
	PW_SEL_NOT_IN,
	PW_SEL_EXISTS,
	PW_SEL_DOES_NOT_EXIST,
};

/* One matchExpressions entry. Values are sorted and unique. */
struct pw_sel_req {
	char *key;
	enum pw_sel_op op;
	size_t n_values;
	char **values;
};

/*
 * A label selector: every matchLabels pair and every requirement must hold (AND). A selector
 * with neither matches every label set; "no selector at all" is the caller's NULL pointer and
 * matches nothing.
 */
struct pw_selector {
	struct pw_labels match_labels;
	size_t n_reqs;
	struct pw_sel_req *reqs;
};

/* Append a requirement; values are copied, sorted and deduplicated. */
int pw_selector_add_req(struct pw_selector *s, const char *key, enum pw_sel_op op,
			const char *const *values, size_t n_values);
/* NULL s matches nothing; NULL labels is the empty label set. */
bool pw_selector_matches(const struct pw_selector *s, const struct pw_labels *labels);
/* True when s matches every label set (no matchLabels, no requirements). */
bool pw_selector_is_empty(const struct pw_selector *s);
/*
 * Canonical form: one term per requirement, sorted and deduplicated, joined by ',':
 * "k=v" (matchLabels or In with one value), "k in (a,b)", "k!=v" (NotIn with one value),
 * "k notin (a,b)", "k" (Exists), "!k" (DoesNotExist). Selectors written differently but with
 * the same terms get the same string; "" is the empty selector. *out is malloc'ed.
 */
int pw_selector_str(const struct pw_selector *s, char **out);
int pw_selector_copy(struct pw_selector *dst, const struct pw_selector *src);
void pw_selector_clear(struct pw_selector *s);
void pw_selector_free(struct pw_selector *s);
/* "In", "NotIn", "Exists", "DoesNotExist" (the Kubernetes spelling). */
const char *pw_sel_op_str(enum pw_sel_op op);
/* Parse the Kubernetes spelling; -EINVAL when unknown. */
int pw_sel_op_parse(const char *s, enum pw_sel_op *op);

#endif /* PW_CTL_SELECTOR_H */
