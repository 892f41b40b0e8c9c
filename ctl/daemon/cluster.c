// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: cluster mode's wiring (--etcd): the etcd client's answers arrive on the loop, and
 * an apply's reply waits for every live node (ctl/cluster/).
 */
#define _GNU_SOURCE
#include "daemon.h"
#include "etcd.h"

static void cluster_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	pw_cluster_ready(d->cluster);
}

static void cluster_pods_changed(void *ctx)
{
	pods_touch(ctx, NULL);
}

/* a deferred apply/delete answer; pw_cluster_forget() drops it when its client goes */
void cluster_reply(void *ctx, json_object *res)
{
	struct client *cl = ctx;

	client_send(cl->d, cl, res);
}

/* The cluster options, checked before anything is touched (exit status 2 as for the others). */
int cluster_options_check(struct daemon *d)
{
	const struct pw_cluster_opts *o = &d->cluster_opts;
	char why[512];

	if (!o->endpoints) {
		if (o->prefix || o->cacert || o->cert || o->key || o->lease_ttl_s) {
			fprintf(stderr, "podwalld: --etcd-prefix, --etcd-cacert, --etcd-cert, "
					"--etcd-key and --etcd-lease-ttl need --etcd\n");
			return -EINVAL;
		}
		return 0;
	}
	if (pw_etcd_check_endpoints(o->endpoints, why, sizeof(why))) {
		fprintf(stderr, "podwalld: %s\n", why);
		return -EINVAL;
	}
	if (o->prefix && (o->prefix[0] != '/' || strlen(o->prefix) > 200)) {
		fprintf(stderr, "podwalld: --etcd-prefix \"%s\": must start with '/' (at most 200 "
				"bytes)\n",
			o->prefix);
		return -EINVAL;
	}
	if (!d->node_name[0] || strchr(d->node_name, '/')) {
		fprintf(stderr, "podwalld: --node-name \"%s\": cluster mode needs a node name "
				"without '/'\n",
			d->node_name);
		return -EINVAL;
	}
	return 0;
}

int cluster_start(struct daemon *d)
{
	struct pw_cluster_opts *o = &d->cluster_opts;
	char why[512];
	int err;

	o->sz = sizeof(*o);
	o->node_name = d->node_name;
	if (!o->prefix)
		o->prefix = "/podwall";
	o->cp = d->cp;
	o->log = lib_log;
	o->log_ctx = "cluster: ";
	o->pods_changed = cluster_pods_changed;
	o->ctx = d;
	err = pw_cluster_new(o, &d->cluster, why, sizeof(why));
	if (err) {
		dlog(PW_LOG_ERROR, "%s", why);
		return err;
	}
	err = watch_add(d, &d->etcd, pw_cluster_fd(d->cluster), cluster_ready, EPOLLIN);
	if (err)
		return err;
	dlog(PW_LOG_INFO, "cluster mode: node %s, etcd %s, prefix %s", d->node_name, o->endpoints,
	     o->prefix);
	return 0;
}
