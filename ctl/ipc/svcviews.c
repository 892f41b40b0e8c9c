// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The JSON views of the core's Service queries (views.h): `podwall get services`,
 * `get endpointslices` and `describe service`. Key names are the protocol, as in views.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"

static json_object *sv_str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *svc_ips(const struct pw_service *svc)
{
	json_object *a = json_object_new_array();
	char buf[PW_PREFIX_STRLEN];

	for (size_t i = 0; a && i < svc->n_ips; i++)
		json_object_array_add(
			a, json_object_new_string(pw_addr_str(&svc->ips[i], buf, sizeof(buf))));
	if (a && svc->headless)
		json_object_array_add(a, json_object_new_string("None"));
	return a;
}

static json_object *svc_row(const struct pw_cp_svc_row *r)
{
	const struct pw_service *svc = r->svc;
	json_object *o = json_object_new_object(), *ports = json_object_new_array();
	char buf[128], text[512] = "";
	size_t off = 0;

	json_object_object_add(o, "kind", json_object_new_string("Service"));
	json_object_object_add(o, "namespace", sv_str(svc->namespace));
	json_object_object_add(o, "name", sv_str(svc->name));
	json_object_object_add(o, "source", sv_str(r->source));
	json_object_object_add(o, "clusterIPs", svc_ips(svc));
	for (size_t i = 0; i < svc->n_ports; i++) {
		const struct pw_svc_port *p = &svc->ports[i];
		json_object *jp = json_object_new_object();

		json_object_object_add(jp, "name", sv_str(p->name ? p->name : ""));
		json_object_object_add(jp, "port", json_object_new_int(p->port));
		json_object_object_add(jp, "protocol", sv_str(pw_ipproto_str(p->proto)));
		if (p->target_name) {
			json_object_object_add(jp, "targetPort", sv_str(p->target_name));
			snprintf(buf, sizeof(buf), "%u->%s/%s", p->port, p->target_name,
				 pw_ipproto_str(p->proto));
		} else {
			json_object_object_add(jp, "targetPort", json_object_new_int(p->target));
			snprintf(buf, sizeof(buf), "%u->%u/%s", p->port, p->target,
				 pw_ipproto_str(p->proto));
		}
		json_object_array_add(ports, jp);
		if (off < sizeof(text))
			off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s",
						i ? "," : "", buf);
	}
	json_object_object_add(o, "ports", ports);
	json_object_object_add(o, "portsText", sv_str(text));
	json_object_object_add(o, "frontends", json_object_new_int64((int64_t)r->frontends));
	json_object_object_add(o, "backends", json_object_new_int64((int64_t)r->backends));
	return o;
}

static json_object *eps_row(const struct pw_cp_eps_row *r)
{
	const struct pw_epslice *e = r->eps;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "kind", json_object_new_string("EndpointSlice"));
	json_object_object_add(o, "namespace", sv_str(e->namespace));
	json_object_object_add(o, "name", sv_str(e->name));
	json_object_object_add(o, "source", sv_str(r->source));
	json_object_object_add(o, "service", sv_str(e->service));
	json_object_object_add(o, "addressType",
			       sv_str(e->family == PW_FAMILY_V4 ? "IPv4" : "IPv6"));
	json_object_object_add(o, "endpoints", json_object_new_int64((int64_t)e->n_eps));
	json_object_object_add(o, "ready", json_object_new_int64((int64_t)r->ready));
	return o;
}

int pw_view_services(struct pw_cp *cp, bool slices, const char *ns, json_object **out)
{
	struct pw_cp_svc_row *sv = NULL;
	struct pw_cp_eps_row *ev = NULL;
	json_object *arr;
	size_t n = 0;
	int err = slices ? pw_cp_list_epslices(cp, ns, &ev, &n)
			 : pw_cp_list_services(cp, ns, &sv, &n);

	if (err)
		return err;
	arr = json_object_new_array();
	for (size_t i = 0; arr && i < n; i++)
		json_object_array_add(arr, slices ? eps_row(&ev[i]) : svc_row(&sv[i]));
	free(sv);
	free(ev);
	if (!arr)
		return -ENOMEM;
	*out = arr;
	return 0;
}

/* "198.18.0.2:7000", "[fd00::2]:7000"; and the pod behind it when known */
json_object *pw_view_svc_backend(const struct pw_cp_svc_backend *b)
{
	char a[PW_PREFIX_STRLEN], t[PW_PREFIX_STRLEN + 16];

	pw_addr_str(&b->addr, a, sizeof(a));
	snprintf(t, sizeof(t), b->addr.family == PW_FAMILY_V6 ? "[%s]:%u" : "%s:%u", a, b->port);
	if (!b->pod)
		return json_object_new_string(t);
	snprintf(t + strlen(t), sizeof(t) - strlen(t), " (%s/%s)", b->pod->namespace, b->pod->name);
	return json_object_new_string(t);
}

int pw_cp_describe_service(struct pw_cp *cp, const char *ns, const char *name, json_object **out)
{
	struct pw_cp_svc_info info;
	json_object *o, *fronts;
	char buf[PW_PREFIX_STRLEN];
	int err = pw_cp_service_info(cp, ns, name, &info);

	if (err)
		return err;
	o = svc_row(&info.row);
	fronts = json_object_new_array();
	for (size_t i = 0; i < info.n_frontends; i++) {
		const struct pw_cp_svc_frontend *f = &info.frontends[i];
		json_object *jf = json_object_new_object(), *jb = json_object_new_array();

		json_object_object_add(jf, "clusterIP",
				       sv_str(pw_addr_str(&f->ip, buf, sizeof(buf))));
		json_object_object_add(jf, "port", json_object_new_int(f->port));
		json_object_object_add(jf, "protocol", sv_str(pw_ipproto_str(f->proto)));
		json_object_object_add(jf, "portName", sv_str(f->port_name));
		for (size_t j = 0; j < f->n_backends; j++)
			json_object_array_add(jb, pw_view_svc_backend(&f->backends[j]));
		json_object_object_add(jf, "backends", jb);
		if (f->svc_id)
			json_object_object_add(jf, "svcId", json_object_new_int64(f->svc_id));
		json_object_array_add(fronts, jf);
	}
	json_object_object_add(o, "frontendsDetail", fronts);
	pw_cp_service_info_free(&info);
	*out = o;
	return 0;
}
