// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall-cni: a chained CNI plugin (spec 1.0.0) that binds each pod to podwall before its
 * first packet. It runs after a primary plugin (bridge, ptp, ...) and tells podwalld, over
 * its control socket, which container is which pod: the host-side interface and addresses
 * from prevResult, the pod from CNI_ARGS, the cgroup from runtimeConfig.cgroupPath.
 *
 * ADD returns prevResult unchanged once podwalld enforces the pod; a daemon that cannot be
 * reached fails ADD (a pod must not start unprotected) but not DEL (a sandbox must always be
 * removable). Errors are CNI error JSON on stdout with the spec's codes.
 *
 * Kept thin on purpose: the plugin parses and forwards; the daemon validates and decides
 * (cgroup notations, the cgroup root, the pod's state), so one place holds the rules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "proto.h"

/* CNI spec error codes */
enum {
	CNI_E_VERSION = 1,
	CNI_E_FIELD = 2,
	CNI_E_CONTAINER = 3,
	CNI_E_ENV = 4,
	CNI_E_IO = 5,
	CNI_E_DECODE = 6,
	CNI_E_CONFIG = 7,
	CNI_E_TRY_AGAIN = 11,
	CNI_E_UNAVAILABLE = 50, /* STATUS: cannot service ADD */
};

#define MAX_STDIN	 (1u << 20)
#define DAEMON_TIMEOUT_S 60
#define MAX_ARG		 256

static const char *const versions[] = {"0.4.0", "1.0.0", "1.1.0"};
static const char *cni_version = "1.0.0";

static int fail(int code, const char *details, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(int code, const char *details, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "cniVersion", json_object_new_string(cni_version));
	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (details)
		json_object_object_add(o, "details", json_object_new_string(details));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return 1;
}

static char *read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1), *nb;
	ssize_t r;

	while (buf) {
		if (n == cap) {
			if (cap >= MAX_STDIN) {
				free(buf);
				return NULL;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

/* CNI_ARGS: "K1=V1;K2=V2"; returns the value of key into out, or NULL */
static const char *cni_arg(const char *args, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);
	const char *p = args;

	while (p && *p) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			n -= kl + 1;
			if (n >= len)
				return NULL;
			memcpy(out, p + kl + 1, n);
			out[n] = '\0';
			return out;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* the kernel driver behind an interface of this network namespace ("veth", "bridge", ...) */
static int if_driver(const char *ifname, char *drv, size_t len)
{
	struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr = {0};
	int fd, err = 0;

	if (strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, ifname);
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = -errno;
	close(fd);
	if (!err)
		snprintf(drv, len, "%s", info.driver);
	return err;
}

/*
 * The pod's host-side interface: the entry of prevResult.interfaces without "sandbox" that is
 * not a bridge (design.md). Its index and the index of the pod's own interface (CNI_IFNAME in
 * the sandbox) go to host and pod (-1 when absent).
 */
static int host_side(json_object *prev, const char *ifname, int *host, int *pod, char *why,
		     size_t why_len)
{
	json_object *ifs, *e;
	size_t i, n;
	int found = -1;

	*host = *pod = -1;
	if (!json_object_object_get_ex(prev, "interfaces", &ifs) ||
	    !json_object_is_type(ifs, json_type_array)) {
		snprintf(why, why_len, "prevResult has no \"interfaces\" list");
		return -EINVAL;
	}
	n = json_object_array_length(ifs);
	for (i = 0; i < n; i++) {
		const char *name, *sandbox;
		char drv[64];

		e = json_object_array_get_idx(ifs, i);
		name = jstr(e, "name");
		sandbox = jstr(e, "sandbox");
		if (!name)
			continue;
		if (sandbox && *sandbox) {
			if (*pod < 0 || !strcmp(name, ifname))
				*pod = (int)i;
			continue;
		}
		if (if_driver(name, drv, sizeof(drv)))
			continue; /* not in this namespace: not the veth we are looking for */
		if (!strcmp(drv, "bridge"))
			continue;
		if (found >= 0) {
			snprintf(why, why_len,
				 "prevResult lists two host-side interfaces (%s and %s): cannot "
				 "tell "
				 "which is the pod's",
				 jstr(json_object_array_get_idx(ifs, (size_t)found), "name"), name);
			return -EINVAL;
		}
		found = (int)i;
	}
	if (found < 0) {
		snprintf(why, why_len,
			 "prevResult has no host-side interface (an entry without \"sandbox\" that "
			 "is not a bridge and exists in the runtime's network namespace): is "
			 "podwall-cni chained after a veth plugin such as bridge or ptp?");
		return -ENOENT;
	}
	*host = found;
	return 0;
}

/* the pod's addresses: ips[] of the sandbox interface (or with no interface index) */
static int pod_ips(json_object *prev, int pod, json_object *out, char *why, size_t why_len)
{
	json_object *ips, *e, *iface;
	size_t i;

	if (!json_object_object_get_ex(prev, "ips", &ips) ||
	    !json_object_is_type(ips, json_type_array))
		return 0; /* no addresses (yet): the pod is still bound by interface and cgroup */
	for (i = 0; i < json_object_array_length(ips); i++) {
		const char *addr;
		char buf[128], *slash;

		e = json_object_array_get_idx(ips, i);
		if (json_object_object_get_ex(e, "interface", &iface) && pod >= 0 &&
		    json_object_get_int(iface) != pod)
			continue;
		addr = jstr(e, "address");
		if (!addr || strlen(addr) >= sizeof(buf)) {
			snprintf(why, why_len, "prevResult ips[%zu] has no \"address\"", i);
			return -EINVAL;
		}
		strcpy(buf, addr);
		slash = strchr(buf, '/');
		if (slash)
			*slash = '\0';
		json_object_array_add(out, json_object_new_string(buf));
	}
	return 0;
}

static int call(const char *sock, json_object *req, json_object **resp)
{
	struct timeval tv = {.tv_sec = DAEMON_TIMEOUT_S};
	struct pw_linebuf lb;
	int fd, err;

	fd = pw_proto_connect(sock);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pw_linebuf_init(&lb, PW_PROTO_MAX_LINE);
	err = pw_proto_call(fd, &lb, req, resp);
	pw_linebuf_free(&lb);
	close(fd);
	return err;
}

/*
 * 0, or the CNI error already printed (non-zero). An unreachable daemon is error down_code,
 * or (0) no error at all: DEL must always let a sandbox go.
 */
static int daemon_call(const char *sock, json_object *req, int down_code, json_object **result)
{
	json_object *resp = NULL, *res, *diags, *code;
	const char *msg = NULL;
	int err, rc = 0;

	err = call(sock, req, &resp);
	if (err) {
		if (!down_code) {
			fprintf(stderr, "podwall-cni: podwalld not reachable on %s (%s)\n", sock,
				strerror(-err));
			return 0;
		}
		if (down_code == CNI_E_UNAVAILABLE)
			return fail(down_code, NULL,
				    "podwalld is not reachable on %s (%s): podwall-cni cannot add "
				    "pods now (running pods stay enforced)",
				    sock, strerror(-err));
		return fail(down_code, NULL,
			    "podwalld is not reachable on %s (%s): the pod must not start "
			    "unprotected; start podwalld or fix the \"socket\" key of the "
			    "podwall-cni config",
			    sock, strerror(-err));
	}
	err = pw_proto_response(resp, &res, &msg, &diags);
	if (err == -EREMOTEIO) {
		int c = json_object_object_get_ex(resp, "code", &code) ? json_object_get_int(code)
								       : CNI_E_CONFIG;

		rc = fail(c, NULL, "podwalld: %s", msg ?: "refused");
	} else if (err) {
		rc = fail(CNI_E_IO, NULL, "podwalld sent a malformed reply on %s", sock);
	} else if (result) {
		*result = res ? json_object_get(res) : NULL;
	}
	json_object_put(resp);
	return rc;
}

/* GC (CNI 1.1): the attachments still valid; podwalld unbinds every other container */
static int cmd_gc(const char *sock, json_object *conf)
{
	json_object *va, *req, *ids;
	size_t i;
	int rc;

	if (!json_object_object_get_ex(conf, "cni.dev/valid-attachments", &va) ||
	    !json_object_is_type(va, json_type_array))
		return fail(CNI_E_CONFIG, NULL,
			    "GC without a \"cni.dev/valid-attachments\" list: nothing is removed");
	ids = json_object_new_array();
	for (i = 0; i < json_object_array_length(va); i++) {
		const char *cid = jstr(json_object_array_get_idx(va, i), "containerID");

		if (cid)
			json_object_array_add(ids, json_object_new_string(cid));
	}
	req = pw_proto_request(PW_OP_GC);
	json_object_object_add(req, "valid", ids);
	rc = daemon_call(sock, req, CNI_E_TRY_AGAIN, NULL);
	json_object_put(req);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = getenv("CNI_COMMAND"), *cid = getenv("CNI_CONTAINERID"),
		   *netns = getenv("CNI_NETNS"), *ifname = getenv("CNI_IFNAME"),
		   *args = getenv("CNI_ARGS") ?: "", *sock, *ver;
	json_object *conf = NULL, *prev = NULL, *req = NULL, *rc_obj, *ips, *res = NULL;
	enum json_tokener_error jerr;
	char ns[MAX_ARG], name[MAX_ARG], uid[MAX_ARG], why[1024];
	int host, pod, rc = 1;
	bool add, del, check, status, gc;
	size_t len, i;
	char *in;

	(void)argc;
	(void)argv;
	if (!cmd)
		return fail(CNI_E_ENV, NULL,
			    "CNI_COMMAND is not set: podwall-cni is run by a "
			    "container runtime (see examples/cni/)");
	if (!strcmp(cmd, "VERSION")) {
		printf("{\"cniVersion\":\"1.1.0\",\"supportedVersions\":"
		       "[\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n");
		return 0;
	}
	add = !strcmp(cmd, "ADD");
	del = !strcmp(cmd, "DEL");
	check = !strcmp(cmd, "CHECK");
	status = !strcmp(cmd, "STATUS");
	gc = !strcmp(cmd, "GC");
	if (!add && !del && !check && !status && !gc)
		return fail(CNI_E_ENV, NULL,
			    "CNI_COMMAND \"%s\" is not ADD, DEL, CHECK, STATUS, GC or VERSION",
			    cmd);
	in = read_stdin(&len);
	if (!in)
		return fail(CNI_E_IO, NULL,
			    "cannot read the network configuration from stdin "
			    "(at most 1 MiB)");
	conf = json_tokener_parse_verbose(in, &jerr);
	free(in);
	if (!conf || !json_object_is_type(conf, json_type_object)) {
		rc = fail(CNI_E_DECODE, conf ? NULL : json_tokener_error_desc(jerr),
			  "the network configuration on stdin is not a JSON object");
		goto out;
	}
	ver = jstr(conf, "cniVersion");
	for (i = 0; ver && i < sizeof(versions) / sizeof(versions[0]); i++) {
		if (!strcmp(ver, versions[i]))
			cni_version = versions[i];
	}
	if (!ver || strcmp(ver, cni_version)) {
		rc = fail(CNI_E_VERSION, NULL,
			  "cniVersion \"%s\" is not supported by podwall-cni (0.4.0, 1.0.0, 1.1.0)",
			  ver ?: "");
		goto out;
	}
	sock = jstr(conf, "socket");
	if (json_object_object_get_ex(conf, "socket", &rc_obj) && !sock) {
		rc = fail(CNI_E_CONFIG, NULL,
			  "\"socket\" must be a string: podwalld's control "
			  "socket path");
		goto out;
	}
	sock = sock ?: PW_SOCKET_DEFAULT;
	if (status) {
		/* ready when podwalld answers: an ADD would be enforced */
		req = pw_proto_request(PW_OP_STATUS);
		rc = daemon_call(sock, req, CNI_E_UNAVAILABLE, NULL);
		goto out;
	}
	if (gc) {
		rc = cmd_gc(sock, conf);
		goto out;
	}
	if (!cid || !*cid) {
		rc = fail(CNI_E_ENV, NULL, "CNI_CONTAINERID is not set");
		goto out;
	}
	if (del) {
		req = pw_proto_request(PW_OP_UNBIND);
		json_object_object_add(req, "containerID", json_object_new_string(cid));
		rc = daemon_call(sock, req, 0, NULL);
		goto out;
	}
	if (!ifname || !*ifname || !netns || !*netns) {
		rc = fail(CNI_E_ENV, NULL, "CNI_IFNAME and CNI_NETNS must be set for %s", cmd);
		goto out;
	}
	if (!json_object_object_get_ex(conf, "prevResult", &prev) ||
	    !json_object_is_type(prev, json_type_object)) {
		rc = fail(CNI_E_CONFIG, NULL,
			  "no prevResult: podwall-cni is a chained plugin; list it in a conflist "
			  "after a primary plugin such as bridge or ptp");
		goto out;
	}
	if (host_side(prev, ifname, &host, &pod, why, sizeof(why))) {
		rc = fail(CNI_E_CONFIG, NULL, "%s", why);
		goto out;
	}
	{
		json_object *ifs = json_object_object_get(prev, "interfaces");
		const char *host_if = jstr(json_object_array_get_idx(ifs, (size_t)host), "name");

		if (check) {
			req = pw_proto_request(PW_OP_CHECK);
			json_object_object_add(req, "containerID", json_object_new_string(cid));
			json_object_object_add(req, "interface", json_object_new_string(host_if));
			rc = daemon_call(sock, req, CNI_E_TRY_AGAIN, NULL);
			goto out;
		}
		if (!cni_arg(args, "K8S_POD_NAMESPACE", ns, sizeof(ns)) ||
		    !cni_arg(args, "K8S_POD_NAME", name, sizeof(name))) {
			rc = fail(CNI_E_ENV, args,
				  "CNI_ARGS lacks K8S_POD_NAMESPACE or K8S_POD_NAME: podwall needs "
				  "the pod's name to apply its policies (the kubelet passes both)");
			goto out;
		}
		ips = json_object_new_array();
		if (pod_ips(prev, pod, ips, why, sizeof(why))) {
			json_object_put(ips);
			rc = fail(CNI_E_CONFIG, NULL, "%s", why);
			goto out;
		}
		json_object *b = json_object_new_object();
		json_object *rtc = NULL, *cgp = NULL;

		json_object_object_add(b, "containerID", json_object_new_string(cid));
		json_object_object_add(b, "namespace", json_object_new_string(ns));
		json_object_object_add(b, "name", json_object_new_string(name));
		if (cni_arg(args, "K8S_POD_UID", uid, sizeof(uid)))
			json_object_object_add(b, "uid", json_object_new_string(uid));
		json_object_object_add(b, "interface", json_object_new_string(host_if));
		json_object_object_add(b, "netns", json_object_new_string(netns));
		if (json_object_object_get_ex(conf, "runtimeConfig", &rtc) &&
		    json_object_object_get_ex(rtc, "cgroupPath", &cgp)) {
			if (!json_object_is_type(cgp, json_type_string)) {
				json_object_put(ips);
				json_object_put(b);
				rc = fail(CNI_E_CONFIG, NULL,
					  "runtimeConfig.cgroupPath must be a string");
				goto out;
			}
			json_object_object_add(b, "cgroupPath", json_object_get(cgp));
		}
		json_object_object_add(b, "ips", ips);
		req = pw_proto_request(PW_OP_BIND);
		json_object_object_add(req, "binding", b);
	}
	rc = daemon_call(sock, req, CNI_E_TRY_AGAIN, &res);
	if (rc)
		goto out;
	/* runtimes log a plugin's stderr: say what was bound and what podwalld spent on it */
	fprintf(stderr,
		"podwall-cni: %s/%s (container %s) bound: endpoint %lld, %s, podwalld %lld us\n",
		ns, name, cid, (long long)pw_json_int(res, "endpoint", 0),
		pw_json_str(res, "state") ?: "?", (long long)pw_json_int(res, "usec", -1));
	/* the result is prevResult, unchanged: podwall adds no interface or address */
	json_object_object_add(prev, "cniVersion", json_object_new_string(cni_version));
	printf("%s\n", json_object_to_json_string_ext(prev, JSON_C_TO_STRING_PLAIN));
	rc = 0;
out:
	json_object_put(res);
	json_object_put(req);
	json_object_put(conf);
	return rc;
}
