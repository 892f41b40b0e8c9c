// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Filters and the table format of `podwall flows`, over flow records as JSON objects. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flowfilter.h"

#define NSEC_PER_SEC  1000000000LL
#define NSEC_PER_MSEC 1000000LL

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void pw_flowfilter_init(struct pw_flowfilter *f)
{
	memset(f, 0, sizeof(*f));
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void pw_flowfilter_free(struct pw_flowfilter *f)
{
	if (!f)
		return;
	free_strv(f->namespaces, f->n_namespaces);
	free_strv(f->pods, f->n_pods);
	free_strv(f->kinds, f->n_kinds);
	free(f->ports);
	pw_flowfilter_init(f);
}

static int push_str(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* --- time ------------------------------------------------------------------------------------ */

int pw_duration_parse(const char *s, int64_t *ns)
{
	static const struct {
		const char *unit;
		int64_t mult;
	} units[] = {
		/* longest first: "ms" before "m" */
		{"ms", NSEC_PER_MSEC},
		{"us", 1000},
		{"ns", 1},
		{"s", NSEC_PER_SEC},
		{"m", 60 * NSEC_PER_SEC},
		{"h", 3600 * NSEC_PER_SEC},
		{"d", 86400 * NSEC_PER_SEC},
	};
	int64_t total = 0;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		unsigned long long v = 0;
		size_t u, digits = 0;

		while (isdigit((unsigned char)*s)) {
			if (v > (unsigned long long)INT64_MAX / 10)
				return -EINVAL;
			v = v * 10 + (unsigned long long)(*s++ - '0');
			digits++;
		}
		if (!digits)
			return -EINVAL;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t l = strlen(units[u].unit);

			if (!strncmp(s, units[u].unit, l)) {
				s += l;
				break;
			}
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (v > (unsigned long long)(INT64_MAX - total) / (unsigned long long)units[u].mult)
			return -EINVAL;
		total += (int64_t)v * units[u].mult;
	}
	*ns = total;
	return 0;
}

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int pw_time_parse_rfc3339(const char *s, int64_t *ns)
{
	const char *p = s;
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, t;
	time_t secs;

	if (!s)
		return -EINVAL;
	if (parse_digits(&p, 4, &y) || *p++ != '-' || parse_digits(&p, 2, &mo) || *p++ != '-' ||
	    parse_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	if (parse_digits(&p, 2, &h) || *p++ != ':' || parse_digits(&p, 2, &mi) || *p++ != ':' ||
	    parse_digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		int digits = 0;

		p++;
		while (isdigit((unsigned char)*p)) {
			if (digits < 9) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		if (!digits)
			return -EINVAL;
		while (digits++ < 9)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (parse_digits(&p, 2, &oh) || *p++ != ':' || parse_digits(&p, 2, &om))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	secs = timegm(&tm);
	if (secs == (time_t)-1 && !(y == 1969 && mo == 12 && d == 31))
		return -EINVAL;
	/* local time = UTC + offset, so UTC = local - offset */
	t = (int64_t)secs - sign * (oh * 3600 + om * 60);
	/* nanoseconds since the epoch hold years 1678 to 2262: outside, refuse (found by fuzzing) */
	if (__builtin_mul_overflow(t, (int64_t)NSEC_PER_SEC, &t) ||
	    __builtin_add_overflow(t, (int64_t)frac, ns))
		return -ERANGE;
	return 0;
}

int pw_since_parse(const char *s, int64_t now_ns, int64_t *ns)
{
	int64_t d;

	if (!pw_duration_parse(s, &d)) {
		*ns = now_ns - d;
		return 0;
	}
	return pw_time_parse_rfc3339(s, ns);
}

/* --- building --------------------------------------------------------------------------------- */

static const char *const option_names[] = {
	"namespace", "pod", "verdict", "direction", "port", "since", "kind",
};

int pw_flowfilter_add(struct pw_flowfilter *f, const char *name, const char *value, int64_t now_ns,
		      char *err, size_t errlen)
{
	if (!value)
		return errf(err, errlen, "--%s needs a value", name);
	if (!strcmp(name, "namespace")) {
		if (!*value)
			return errf(err, errlen, "--namespace: empty namespace");
		return push_str(&f->namespaces, &f->n_namespaces, value);
	}
	if (!strcmp(name, "pod")) {
		if (!*value || !strcmp(value, "/"))
			return errf(err, errlen, "--pod: expected [NAMESPACE/]POD, got \"%s\"",
				    value);
		return push_str(&f->pods, &f->n_pods, value);
	}
	if (!strcmp(name, "kind")) {
		static const char *const kinds[] = {"flow_new", "flow_denied", "sock_deny",
						    "revoked",	"flow_end",    "audit",
						    "lost"};
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			if (!strcmp(value, kinds[i]))
				return push_str(&f->kinds, &f->n_kinds, value);
		}
		return errf(err, errlen,
			    "--kind: unknown kind \"%s\" (flow_new, flow_denied, sock_deny, "
			    "revoked, flow_end, audit, lost)",
			    value);
	}
	if (!strcmp(name, "verdict")) {
		if (!strcasecmp(value, "FORWARDED") || !strcasecmp(value, "allowed"))
			f->verdicts |= PW_FF_VERDICT_FORWARDED;
		else if (!strcasecmp(value, "DROPPED") || !strcasecmp(value, "denied"))
			f->verdicts |= PW_FF_VERDICT_DROPPED;
		else if (!strcasecmp(value, "AUDIT"))
			f->verdicts |= PW_FF_VERDICT_AUDIT;
		else
			return errf(err, errlen,
				    "--verdict: expected FORWARDED, DROPPED or AUDIT, got \"%s\"",
				    value);
		return 0;
	}
	if (!strcmp(name, "direction")) {
		if (!strcasecmp(value, "ingress"))
			f->directions |= PW_FF_DIR_INGRESS;
		else if (!strcasecmp(value, "egress"))
			f->directions |= PW_FF_DIR_EGRESS;
		else
			return errf(err, errlen,
				    "--direction: expected ingress or egress, got \"%s\"", value);
		return 0;
	}
	if (!strcmp(name, "port")) {
		char *end;
		unsigned long v;
		uint16_t *np;

		errno = 0;
		v = strtoul(value, &end, 10);
		if (!isdigit((unsigned char)*value) || *end || errno || v > 65535)
			return errf(err, errlen, "--port: expected 0-65535, got \"%s\"", value);
		np = realloc(f->ports, (f->n_ports + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		f->ports = np;
		f->ports[f->n_ports++] = (uint16_t)v;
		return 0;
	}
	if (!strcmp(name, "since")) {
		int64_t t;

		if (pw_since_parse(value, now_ns, &t))
			return errf(err, errlen,
				    "--since: expected a duration (5m, 1h30m) or an RFC 3339 "
				    "time, got \"%s\"",
				    value);
		/* several --since: the latest bound holds (all must hold) */
		if (!f->has_since || t > f->since_ns)
			f->since_ns = t;
		f->has_since = true;
		return 0;
	}
	return errf(err, errlen, "unknown flow filter --%s", name);
}

int pw_flowfilter_parse(struct pw_flowfilter *f, int argc, char *const argv[], int64_t now_ns,
			char *err, size_t errlen)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *value = NULL, *eq;
		char name[32];
		size_t nl;
		int ret;

		if (!strcmp(a, "-n")) {
			snprintf(name, sizeof(name), "namespace");
		} else if (!strncmp(a, "--", 2) && a[2]) {
			eq = strchr(a + 2, '=');
			nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			if (nl >= sizeof(name))
				return errf(err, errlen, "unknown flow filter %s", a);
			memcpy(name, a + 2, nl);
			name[nl] = '\0';
			if (eq)
				value = eq + 1;
		} else {
			return errf(err, errlen, "unexpected argument \"%s\"", a);
		}
		bool known = false;
		for (size_t k = 0; k < sizeof(option_names) / sizeof(option_names[0]); k++)
			known |= !strcmp(name, option_names[k]);
		if (!known)
			return errf(err, errlen, "unknown flow filter %s", a);
		if (!value) {
			if (i + 1 >= argc)
				return errf(err, errlen, "%s needs a value", a);
			value = argv[++i];
		}
		ret = pw_flowfilter_add(f, name, value, now_ns, err, errlen);
		if (ret)
			return ret;
	}
	return 0;
}

/* --- matching ----------------------------------------------------------------------------------
 */

static json_object *get(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool str_in(const char *s, char *const *v, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		if (!strcmp(s, v[i]))
			return true;
	}
	return false;
}

static bool ns_match(const struct pw_flowfilter *f, json_object *rec)
{
	if (!f->n_namespaces)
		return true;
	return str_in(get_str(get(rec, "source"), "namespace"), f->namespaces, f->n_namespaces) ||
	       str_in(get_str(get(rec, "destination"), "namespace"), f->namespaces,
		      f->n_namespaces);
}

static bool pod_end_match(json_object *ep, const char *want)
{
	const char *slash = strchr(want, '/'), *ns = get_str(ep, "namespace");
	const char *pod = get_str(ep, "pod_name"), *prefix = want;

	if (slash) {
		size_t nl = (size_t)(slash - want);

		if (!ns || strlen(ns) != nl || strncmp(ns, want, nl))
			return false;
		prefix = slash + 1;
		if (!*prefix)
			return true; /* "ns/": any pod of the namespace */
	}
	/* a pod-name prefix, as Hubble's --pod: "web" matches web-5d8f... */
	return pod && !strncmp(pod, prefix, strlen(prefix));
}

static bool pod_match(const struct pw_flowfilter *f, json_object *rec)
{
	for (size_t i = 0; i < f->n_pods; i++) {
		if (pod_end_match(get(rec, "source"), f->pods[i]) ||
		    pod_end_match(get(rec, "destination"), f->pods[i]))
			return true;
	}
	return !f->n_pods;
}

static bool port_match(const struct pw_flowfilter *f, json_object *rec)
{
	json_object *l4 = get(rec, "l4");

	if (!f->n_ports)
		return true;
	if (!l4 || !json_object_is_type(l4, json_type_object))
		return false;
	json_object_object_foreach(l4, proto, p)
	{
		static const char *const keys[] = {"source_port", "destination_port"};

		(void)proto;
		for (int k = 0; k < 2; k++) {
			json_object *v = get(p, keys[k]);

			if (!v || !json_object_is_type(v, json_type_int))
				continue;
			for (size_t i = 0; i < f->n_ports; i++) {
				if (json_object_get_int64(v) == f->ports[i])
					return true;
			}
		}
	}
	return false;
}

static unsigned int verdict_bit(const char *v)
{
	if (!v)
		return 0;
	if (!strcmp(v, "FORWARDED"))
		return PW_FF_VERDICT_FORWARDED;
	if (!strcmp(v, "DROPPED"))
		return PW_FF_VERDICT_DROPPED;
	if (!strcmp(v, "AUDIT"))
		return PW_FF_VERDICT_AUDIT;
	return 0;
}

static unsigned int dir_bit(const char *d)
{
	if (!d)
		return 0;
	if (!strcmp(d, "INGRESS"))
		return PW_FF_DIR_INGRESS;
	if (!strcmp(d, "EGRESS"))
		return PW_FF_DIR_EGRESS;
	return 0;
}

bool pw_flowfilter_match(const struct pw_flowfilter *f, json_object *rec)
{
	const char *kind = get_str(rec, "kind");

	if (!rec || !json_object_is_type(rec, json_type_object))
		return false;
	if (f->has_since) {
		int64_t t;

		if (pw_time_parse_rfc3339(get_str(rec, "time"), &t) || t < f->since_ns)
			return false;
	}
	if (f->n_kinds && !str_in(kind, f->kinds, f->n_kinds))
		return false;
	if (kind && !strcmp(kind, "lost"))
		return true;
	if (f->verdicts && !(f->verdicts & verdict_bit(get_str(rec, "verdict"))))
		return false;
	if (f->directions && !(f->directions & dir_bit(get_str(rec, "traffic_direction"))))
		return false;
	return ns_match(f, rec) && pod_match(f, rec) && port_match(f, rec);
}

bool pw_flowfilter_match_cb(const void *ctx, json_object *rec)
{
	return pw_flowfilter_match(ctx, rec);
}

bool pw_flowfilter_match_line(const struct pw_flowfilter *f, const char *line, size_t len)
{
	json_tokener *tok;
	json_object *rec;
	bool ok;

	/* an empty filter takes everything: no need to parse the record back */
	if (!f || (!f->n_namespaces && !f->n_pods && !f->n_kinds && !f->verdicts &&
		   !f->directions && !f->n_ports && !f->has_since))
		return true;
	tok = json_tokener_new();
	if (!tok)
		return false;
	rec = json_tokener_parse_ex(tok, line, (int)len);
	ok = rec && pw_flowfilter_match(f, rec);
	json_object_put(rec);
	json_tokener_free(tok);
	return ok;
}

/* --- table -------------------------------------------------------------------------------------
 */

#define COL_TIME 19
#define COL_EP	 34
#define COL_PORT 12
#define COL_VERD 9

const char *pw_flow_table_header(void)
{
	static char hdr[128];

	if (!hdr[0])
		snprintf(hdr, sizeof(hdr), "%-*s %-*s %-*s %-*s %-*s %s", COL_TIME, "TIME", COL_EP,
			 "SOURCE", COL_EP, "DESTINATION", COL_PORT, "PORT", COL_VERD, "VERDICT",
			 "REASON/POLICY");
	return hdr;
}

/* Append s to buf at *off, padded or cut to width (0: no padding, no cut), terminal-safe. */
static void put(char *buf, size_t len, size_t *off, const char *s, size_t width)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t cols = 0;

	while (*p && (!width || cols < width) && *off + 4 < len) {
		unsigned char c = *p;

		if (c < 0x20 || c == 0x7f) {
			buf[(*off)++] = '?';
			p++;
		} else if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* C1 controls (CSI among them) */
			buf[(*off)++] = '?';
			p += 2;
		} else {
			/* copy one UTF-8 sequence whole: one column (close enough for a table) */
			size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, i;

			for (i = 0; i < n && p[i]; i++)
				buf[(*off)++] = (char)p[i];
			p += i; /* never past the terminating NUL */
		}
		cols++;
	}
	while (width && cols < width && *off + 1 < len) {
		buf[(*off)++] = ' ';
		cols++;
	}
	buf[*off] = '\0';
}

static void endpoint_name(json_object *ep, json_object *ip, const char *addr_key, char *buf,
			  size_t len)
{
	const char *ns = get_str(ep, "namespace"), *pod = get_str(ep, "pod_name");
	const char *addr = get_str(ip, addr_key), *cidr = get_str(ep, "cidr");

	size_t alen = addr ? strlen(addr) : 0;

	if (ns && pod)
		snprintf(buf, len, "%s/%s", ns, pod);
	/* a host prefix of the address itself says nothing more: "169.254.169.254" alone */
	else if (addr && cidr &&
		 !(!strncmp(cidr, addr, alen) &&
		   (!strcmp(cidr + alen, "/32") || !strcmp(cidr + alen, "/128"))))
		snprintf(buf, len, "%s (%s)", addr, cidr);
	else if (addr)
		snprintf(buf, len, "%s", addr);
	else
		snprintf(buf, len, "-");
}

static void port_text(json_object *rec, char *buf, size_t len)
{
	json_object *l4 = get(rec, "l4"), *p = NULL;
	const char *proto = NULL;

	if (l4 && json_object_is_type(l4, json_type_object)) {
		json_object_object_foreach(l4, k, v)
		{
			proto = k;
			p = v;
			break;
		}
	}
	if (proto && get(p, "destination_port"))
		snprintf(buf, len, "%d/%s", json_object_get_int(get(p, "destination_port")), proto);
	else if (proto)
		snprintf(buf, len, "%s", proto);
	else if (get(rec, "ip_protocol"))
		snprintf(buf, len, "proto %d", json_object_get_int(get(rec, "ip_protocol")));
	else
		snprintf(buf, len, "-");
}

static void policies_text(json_object *arr, char *buf, size_t len, size_t *off)
{
	size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr)
								    : 0;

	for (size_t i = 0; i < n && *off + 1 < len; i++) {
		json_object *p = json_object_array_get_idx(arr, i);
		json_object *rule = get(p, "rule");
		int w;

		w = snprintf(buf + *off, len - *off, "%s%s/%s", i ? "," : "",
			     get_str(p, "namespace") ?: "?", get_str(p, "name") ?: "?");
		if (w > 0)
			*off += (size_t)w < len - *off ? (size_t)w : len - *off - 1;
		if (rule && *off + 1 < len) {
			w = snprintf(buf + *off, len - *off, "[%d]", json_object_get_int(rule));
			if (w > 0)
				*off += (size_t)w < len - *off ? (size_t)w : len - *off - 1;
		}
	}
}

static void reason_text(json_object *rec, char *buf, size_t len)
{
	const char *kind = get_str(rec, "kind") ?: "", *reason = get_str(rec, "reason");
	json_object *fe = get(rec, "flow_end"), *proc = get(rec, "process");
	json_object *sup = get(rec, "suppressed"), *pol;
	size_t off = 0;
	int w = 0;

#define APPEND(...)                                                                       \
	do {                                                                              \
		if (off + 1 < len) {                                                      \
			w = snprintf(buf + off, len - off, __VA_ARGS__);                  \
			if (w > 0)                                                        \
				off += (size_t)w < len - off ? (size_t)w : len - off - 1; \
		}                                                                         \
	} while (0)

	buf[0] = '\0';
	if (!strcmp(kind, "lost")) {
		if (get(rec, "cpu"))
			APPEND("lost %llu samples on cpu %d",
			       (unsigned long long)json_object_get_uint64(get(rec, "lost")),
			       json_object_get_int(get(rec, "cpu")));
		else if (get_str(rec, "lost_reason") &&
			 !strcmp(get_str(rec, "lost_reason"), "flow-end-not-kept"))
			APPEND("lost %llu flow ends: port pairs reused too often",
			       (unsigned long long)json_object_get_uint64(get(rec, "lost")));
		else
			APPEND("lost %llu events: no reader attached",
			       (unsigned long long)json_object_get_uint64(get(rec, "lost")));
		return;
	}
	if (!strcmp(kind, "flow_end")) {
		APPEND("flow-end %s, %llu/%llu pkts", get_str(fe, "flowEndReasonName") ?: "?",
		       (unsigned long long)json_object_get_uint64(get(fe, "initiatorPackets")),
		       (unsigned long long)json_object_get_uint64(get(fe, "responderPackets")));
	} else {
		APPEND("%s%s", !strcmp(kind, "sock_deny") ? "socket " : "", reason ?: kind);
	}
	pol = get(rec, "egress_allowed_by") ?: get(rec, "ingress_allowed_by");
	if (pol) {
		APPEND(" by ");
		policies_text(pol, buf, len, &off);
	} else if ((pol = get(rec, "isolated_by"))) {
		APPEND(" isolated by ");
		policies_text(pol, buf, len, &off);
	} else if ((pol = get(rec, "previously_allowed_by"))) {
		APPEND(" was ");
		policies_text(pol, buf, len, &off);
	}
	if (proc)
		APPEND(" pid %llu comm %s",
		       (unsigned long long)json_object_get_uint64(get(proc, "pid")),
		       get_str(proc, "comm") ?: "?");
	if (sup)
		APPEND(" (+%llu suppressed)", (unsigned long long)json_object_get_uint64(sup));
#undef APPEND
}

size_t pw_flow_format_row(json_object *rec, char *buf, size_t len)
{
	char tbuf[32] = "-", src[300], dst[300], port[32], reason[512];
	json_object *ip = get(rec, "IP");
	int64_t t;
	size_t off = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!pw_time_parse_rfc3339(get_str(rec, "time"), &t)) {
		time_t sec = (time_t)(t / NSEC_PER_SEC);
		struct tm tm;
		char base[24];

		/* Hubble's layout, in UTC like the records */
		gmtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%b %d %H:%M:%S", &tm);
		snprintf(tbuf, sizeof(tbuf), "%s.%03lld", base,
			 (long long)(t % NSEC_PER_SEC) / NSEC_PER_MSEC);
	}
	endpoint_name(get(rec, "source"), ip, "source", src, sizeof(src));
	endpoint_name(get(rec, "destination"), ip, "destination", dst, sizeof(dst));
	if (get(rec, "lost")) {
		snprintf(src, sizeof(src), "-");
		snprintf(dst, sizeof(dst), "-");
	}
	port_text(rec, port, sizeof(port));
	reason_text(rec, reason, sizeof(reason));

	put(buf, len, &off, tbuf, COL_TIME);
	put(buf, len, &off, " ", 0);
	put(buf, len, &off, src, COL_EP);
	put(buf, len, &off, " ", 0);
	put(buf, len, &off, dst, COL_EP);
	put(buf, len, &off, " ", 0);
	put(buf, len, &off, port, COL_PORT);
	put(buf, len, &off, " ", 0);
	put(buf, len, &off, get_str(rec, "verdict") ?: (get(rec, "lost") ? "LOST" : "-"), COL_VERD);
	put(buf, len, &off, " ", 0);
	put(buf, len, &off, reason, 0);
	/* no trailing blanks */
	while (off && buf[off - 1] == ' ')
		buf[--off] = '\0';
	return off;
}
