// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* the header before a source file name: its reference count */
union srcfile_hdr {
	size_t refs;
	max_align_t align;
};

char *pw_source_file_new(const char *name)
{
	size_t len = strlen(name) + 1;
	union srcfile_hdr *h = malloc(sizeof(*h) + len);

	if (!h)
		return NULL;
	h->refs = 1;
	return memcpy(h + 1, name, len);
}

char *pw_source_file_ref(char *file)
{
	if (file)
		((union srcfile_hdr *)file - 1)->refs++;
	return file;
}

void pw_source_file_put(char *file)
{
	union srcfile_hdr *h;

	if (!file)
		return;
	h = (union srcfile_hdr *)file - 1;
	if (!--h->refs)
		free(h);
}

void pw_namespace_clear(struct pw_namespace *ns)
{
	if (!ns)
		return;
	free(ns->name);
	pw_labels_clear(&ns->labels);
	pw_labels_clear(&ns->annotations);
	memset(ns, 0, sizeof(*ns));
}

void pw_pod_clear(struct pw_pod *pod)
{
	size_t i;

	if (!pod)
		return;
	free(pod->namespace);
	free(pod->name);
	pw_labels_clear(&pod->labels);
	pw_labels_clear(&pod->annotations);
	free(pod->interface);
	free(pod->cgroup);
	for (i = 0; i < pod->n_ports; i++)
		free(pod->ports[i].name);
	free(pod->ports);
	for (i = 0; i < pod->n_containers; i++)
		free(pod->containers[i]);
	free(pod->containers);
	memset(pod, 0, sizeof(*pod));
}

static void rule_clear(struct pw_np_rule *r)
{
	size_t i;

	for (i = 0; i < r->n_peers; i++) {
		pw_selector_free(r->peers[i].pod_sel);
		pw_selector_free(r->peers[i].ns_sel);
		if (r->peers[i].ipblock)
			free(r->peers[i].ipblock->except);
		free(r->peers[i].ipblock);
	}
	free(r->peers);
	for (i = 0; i < r->n_ports; i++)
		free(r->ports[i].port_name);
	free(r->ports);
	memset(r, 0, sizeof(*r));
}

void pw_netpol_clear(struct pw_netpol *np)
{
	size_t i;

	if (!np)
		return;
	free(np->namespace);
	free(np->name);
	pw_labels_clear(&np->labels);
	pw_labels_clear(&np->annotations);
	pw_selector_clear(&np->pod_sel);
	for (i = 0; i < np->n_ingress; i++)
		rule_clear(&np->ingress[i]);
	free(np->ingress);
	for (i = 0; i < np->n_egress; i++)
		rule_clear(&np->egress[i]);
	free(np->egress);
	memset(np, 0, sizeof(*np));
}

void pw_object_clear(struct pw_object *obj)
{
	if (!obj)
		return;
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		pw_namespace_clear(&obj->u.ns);
		break;
	case PW_KIND_POD:
		pw_pod_clear(&obj->u.pod);
		break;
	case PW_KIND_NETPOL:
		pw_netpol_clear(&obj->u.np);
		break;
	case PW_KIND_SERVICE:
		pw_service_clear(&obj->u.svc);
		break;
	case PW_KIND_EPSLICE:
		pw_epslice_clear(&obj->u.eps);
		break;
	default:
		break;
	}
	pw_source_file_put(obj->src.file);
	memset(obj, 0, sizeof(*obj));
}

void pw_manifest_free(struct pw_manifest *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		pw_object_clear(&m->objs[i]);
	free(m->objs);
	free(m);
}

int pw_manifest_take(struct pw_manifest *all, struct pw_manifest *m)
{
	struct pw_object *v;

	if (!m->n)
		return 0;
	v = realloc(all->objs, (all->n + m->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v + all->n, m->objs, m->n * sizeof(*v));
	all->objs = v;
	all->n += m->n;
	m->n = 0; /* the objects are all's now: m's free releases only its array */
	return 0;
}

const char *pw_object_name(const struct pw_object *obj)
{
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		return obj->u.ns.name;
	case PW_KIND_POD:
		return obj->u.pod.name;
	case PW_KIND_NETPOL:
		return obj->u.np.name;
	case PW_KIND_SERVICE:
		return obj->u.svc.name;
	case PW_KIND_EPSLICE:
		return obj->u.eps.name;
	default:
		break;
	}
	return NULL;
}

const char *pw_object_namespace(const struct pw_object *obj)
{
	switch (obj->kind) {
	case PW_KIND_POD:
		return obj->u.pod.namespace;
	case PW_KIND_NETPOL:
		return obj->u.np.namespace;
	case PW_KIND_SERVICE:
		return obj->u.svc.namespace;
	case PW_KIND_EPSLICE:
		return obj->u.eps.namespace;
	default:
		return NULL;
	}
}

const char *pw_kind_str(enum pw_kind kind)
{
	switch (kind) {
	case PW_KIND_NAMESPACE:
		return "Namespace";
	case PW_KIND_POD:
		return "Pod";
	case PW_KIND_NETPOL:
		return "NetworkPolicy";
	case PW_KIND_SERVICE:
		return "Service";
	case PW_KIND_EPSLICE:
		return "EndpointSlice";
	default:
		break;
	}
	return "Unknown";
}

const char *pw_ipproto_str(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "TCP";
	case IPPROTO_UDP:
		return "UDP";
	case IPPROTO_SCTP:
		return "SCTP";
	}
	return NULL;
}

int pw_ipproto_parse(const char *s, uint8_t *proto)
{
	static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP};
	size_t i;

	for (i = 0; s && i < sizeof(protos); i++) {
		const char *name = pw_ipproto_str(protos[i]);

		if (name && !strcmp(s, name)) {
			*proto = protos[i];
			return 0;
		}
	}
	return -EINVAL;
}

int pw_pod_named_port(const struct pw_pod *pod, const char *name, uint8_t proto)
{
	size_t i;

	for (i = 0; pod && name && i < pod->n_ports; i++) {
		const struct pw_container_port *p = &pod->ports[i];

		if (p->name && p->proto == proto && !strcmp(p->name, name))
			return p->port;
	}
	return -ENOENT;
}

/* --- addresses -------------------------------------------------------------------------- */

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int pw_addr_parse(const char *s, struct pw_addr *out)
{
	struct pw_addr a = {0};

	if (!s || !out)
		return -EINVAL;
	if (inet_pton(AF_INET, s, a.a) == 1) {
		a.family = PW_FAMILY_V4;
	} else if (inet_pton(AF_INET6, s, a.a) == 1) {
		a.family = PW_FAMILY_V6;
		if (!memcmp(a.a, v4mapped, sizeof(v4mapped))) {
			memmove(a.a, a.a + 12, 4);
			memset(a.a + 4, 0, 12);
			a.family = PW_FAMILY_V4;
		}
	} else {
		return -EINVAL;
	}
	*out = a;
	return 0;
}

static unsigned int family_bits(uint8_t family)
{
	return family == PW_FAMILY_V4 ? 32 : 128;
}

/* Clear bits past len; reports whether any was set. */
static bool mask_bits(uint8_t *a, unsigned int len, unsigned int total)
{
	bool set = false;
	unsigned int i;

	for (i = len; i < total; i++) {
		uint8_t bit = 0x80 >> (i % 8);

		if (a[i / 8] & bit)
			set = true;
		a[i / 8] &= ~bit;
	}
	return set;
}

void pw_prefix_of_addr(const struct pw_addr *a, unsigned int len, struct pw_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->family = a->family;
	out->prefixlen = (uint8_t)len;
	memcpy(out->a, a->a, sizeof(out->a));
	mask_bits(out->a, len, family_bits(a->family));
}

int pw_prefix_parse(const char *s, struct pw_prefix *out, bool *host_bits)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct pw_prefix c = {0};
	const char *slash, *p;
	unsigned long len = 0;
	bool hb;

	if (!s || !out)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf) || !slash[1] || strlen(slash + 1) > 3)
		return -EINVAL;
	for (p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		len = len * 10 + (unsigned long)(*p - '0');
	}
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (inet_pton(AF_INET, buf, c.a) == 1) {
		c.family = PW_FAMILY_V4;
	} else if (inet_pton(AF_INET6, buf, c.a) == 1) {
		/* Go parses these as 16-byte networks that never contain IPv4 addresses */
		if (!memcmp(c.a, v4mapped, sizeof(v4mapped)))
			return -EINVAL;
		c.family = PW_FAMILY_V6;
	} else {
		return -EINVAL;
	}
	if (len > family_bits(c.family))
		return -EINVAL;
	c.prefixlen = (uint8_t)len;
	hb = mask_bits(c.a, c.prefixlen, family_bits(c.family));
	if (host_bits)
		*host_bits = hb;
	*out = c;
	return 0;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int len)
{
	unsigned int full = len / 8, rem = len % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rem)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rem))) == 0;
}

bool pw_prefix_contains_addr(const struct pw_prefix *c, const struct pw_addr *a)
{
	return c && a && c->family == a->family && prefix_eq(c->a, a->a, c->prefixlen);
}

bool pw_prefix_contains(const struct pw_prefix *outer, const struct pw_prefix *inner)
{
	return outer && inner && outer->family == inner->family &&
	       inner->prefixlen >= outer->prefixlen &&
	       prefix_eq(outer->a, inner->a, outer->prefixlen);
}

char *pw_addr_str(const struct pw_addr *a, char *buf, size_t len)
{
	if (!buf || !len)
		return buf;
	if (!a || !inet_ntop(a->family == PW_FAMILY_V4 ? AF_INET : AF_INET6, a->a, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

char *pw_prefix_str(const struct pw_prefix *c, char *buf, size_t len)
{
	struct pw_addr a = {0};
	size_t n;

	if (!buf || !len)
		return buf;
	if (!c) {
		snprintf(buf, len, "?");
		return buf;
	}
	a.family = c->family;
	memcpy(a.a, c->a, sizeof(a.a));
	pw_addr_str(&a, buf, len);
	n = strlen(buf);
	snprintf(buf + n, len - n, "/%u", c->prefixlen);
	return buf;
}

/* --- Kubernetes syntax rules (k8s.io/apimachinery/pkg/util/validation) ------------------ */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool dns_label_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

const char *pw_invalid_dns1123_label(const char *s)
{
	if (!s || !*s)
		return "must be non-empty";
	if (strlen(s) > 63)
		return "must be no more than 63 characters";
	if (!dns_label_ok(s, strlen(s)))
		return "a lowercase RFC 1123 label must consist of lower case alphanumeric "
		       "characters "
		       "or '-', and must start and end with an alphanumeric character";
	return NULL;
}

const char *pw_invalid_dns1123_subdomain(const char *s)
{
	const char *p, *dot;

	if (!s || !*s)
		return "must be non-empty";
	if (strlen(s) > 253)
		return "must be no more than 253 characters";
	for (p = s;; p = dot + 1) {
		dot = strchr(p, '.');
		if (!dns_label_ok(p, dot ? (size_t)(dot - p) : strlen(p)))
			return "a lowercase RFC 1123 subdomain must consist of lower case "
			       "alphanumeric "
			       "characters, '-' or '.', and must start and end with an "
			       "alphanumeric "
			       "character";
		if (!dot)
			break;
	}
	return NULL;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..n) */
static bool label_name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	}
	return true;
}

const char *pw_invalid_qualified_name(const char *s)
{
	const char *slash, *name;

	if (!s || !*s)
		return "name part must be non-empty";
	slash = strchr(s, '/');
	name = s;
	if (slash) {
		size_t plen = (size_t)(slash - s);
		char prefix[256];

		if (strchr(slash + 1, '/'))
			return "a qualified name must consist of alphanumeric characters, '-', '_' "
			       "or "
			       "'.', with an optional DNS subdomain prefix and '/' (e.g. "
			       "'example.com/MyName')";
		if (!plen)
			return "prefix part must be non-empty";
		if (plen > 253)
			return "prefix part must be no more than 253 characters";
		memcpy(prefix, s, plen);
		prefix[plen] = '\0';
		if (pw_invalid_dns1123_subdomain(prefix))
			return "prefix part a lowercase RFC 1123 subdomain must consist of lower "
			       "case "
			       "alphanumeric characters, '-' or '.', and must start and end with "
			       "an "
			       "alphanumeric character";
		name = slash + 1;
	}
	if (!*name)
		return "name part must be non-empty";
	if (strlen(name) > 63)
		return "name part must be no more than 63 characters";
	if (!label_name_ok(name, strlen(name)))
		return "name part must consist of alphanumeric characters, '-', '_' or '.', and "
		       "must "
		       "start and end with an alphanumeric character";
	return NULL;
}

const char *pw_invalid_label_value(const char *s)
{
	if (!s)
		return "must be a string";
	if (strlen(s) > 63)
		return "must be no more than 63 characters";
	if (*s && !label_name_ok(s, strlen(s)))
		return "a valid label must be an empty string or consist of alphanumeric "
		       "characters, "
		       "'-', '_' or '.', and must start and end with an alphanumeric character";
	return NULL;
}

const char *pw_invalid_port_name(const char *s)
{
	bool letter = false;
	size_t i, n;

	if (!s)
		return "must be a string";
	n = strlen(s);
	if (n > 15)
		return "must be no more than 15 characters";
	if (!n)
		return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens "
			       "(-)";
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
	}
	if (strstr(s, "--"))
		return "must not contain consecutive hyphens";
	if (!letter)
		return "must contain at least one letter (a-z)";
	if (s[0] == '-' || s[n - 1] == '-')
		return "must not begin or end with a hyphen";
	return NULL;
}

const char *pw_invalid_ifname(const char *s)
{
	const char *p;

	/* the kernel's dev_valid_name() */
	if (!s || !*s)
		return "must be non-empty";
	if (strlen(s) > 15)
		return "must be no more than 15 characters (IFNAMSIZ)";
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return "may not be '.' or '..'";
	for (p = s; *p; p++) {
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
			return "may not contain '/', ':', whitespace or control characters";
	}
	return NULL;
}

const char *pw_invalid_cgroup_path(const char *s)
{
	const char *p, *slash;

	if (!s || !*s)
		return "must be non-empty";
	if (strlen(s) > 1024)
		return "must be no more than 1024 characters";
	if (s[0] == '/')
		return "must be relative to the cgroup root (no leading '/')";
	for (p = s;; p = slash + 1) {
		size_t n;

		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (!n && slash)
			return "may not contain empty path components ('//')";
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return "may not contain '.' or '..' components";
		if (!slash)
			break;
	}
	for (p = s; *p; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return "may not contain control characters";
	}
	return NULL;
}
