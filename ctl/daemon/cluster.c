// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: cluster mode's wiring (--etcd): the etcd client's answers arrive on the loop, and
 * an apply's reply waits for every live node (ctl/cluster/).
 */
#define _GNU_SOURCE
#include "daemon.h"

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
