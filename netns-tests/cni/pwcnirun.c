// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwcnirun: runs a CNI conflist the way a container runtime does (libcni's behaviour, written
 * from the CNI spec): every plugin of the list is exec'ed from CNI_PATH with the CNI_*
 * environment and its network configuration on stdin; ADD runs them in order, each with the
 * previous one's result as prevResult, and caches the final result; CHECK runs them in order
 * and DEL in reverse, each with the cached result as prevResult (none when nothing is
 * cached). runtimeConfig gets cgroupPath for plugins that declare the capability.
 *
 *   pwcnirun ADD|DEL|CHECK CONFLIST CONTAINERID NETNS IFNAME [options]
 *     --args K=V;K=V   CNI_ARGS             --cgroup PATH   runtimeConfig.cgroupPath
 *     --ips A[,B]      runtimeConfig.ips (addresses host-local must hand out)
 *     --cni-path DIR   (default /usr/lib/cni:<dir of pwcnirun>)
 *     --cache DIR      cached results (default: the conflist's directory)
 *     --timing         one line per plugin on stderr: "timing TYPE USEC" (exec to exit)
 * The final result (ADD) or a plugin's error JSON is printed on stdout; exit 0 or 1.
 * No shell is involved, so the bytes a plugin sees are exactly these.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static char *find_plugin(const char *cni_path, const char *type)
{
	char *copy = strdup(cni_path), *save = NULL, *dir, *p = NULL;

	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (asprintf(&p, "%s/%s", dir, type) < 0)
			break;
		if (!access(p, X_OK))
			break;
		free(p);
		p = NULL;
	}
	free(copy);
	return p;
}

/* exec one plugin; returns its exit status (or -1) and its stdout in *out */
static int exec_plugin(const char *path, char *const envp[], const char *conf, char **out,
		       uint64_t *usec)
{
	int in[2], o[2], status;
	size_t cap = 65536, n = 0, len = strlen(conf), off = 0;
	uint64_t t0 = now_us();
	char *buf = malloc(cap + 1);
	pid_t pid;
	ssize_t r;

	if (!buf || pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		char *argv[] = {(char *)path, NULL};

		dup2(in[0], 0);
		dup2(o[1], 1);
		execve(path, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	while (off < len) {
		r = write(in[1], conf + off, len - off);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(in[1]);
	while ((r = read(o[0], buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (!buf)
				return -1;
		}
	}
	close(o[0]);
	buf[n] = '\0';
	waitpid(pid, &status, 0);
	*usec = now_us() - t0;
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
	const char *cmd, *conflist, *cid, *netns, *ifname, *args = "", *cgroup = NULL, *ips = NULL;
	const char *cache_dir = NULL, *cni_path = NULL;
	char cache[2 * PATH_MAX + 256], self[PATH_MAX], defpath[2 * PATH_MAX], *envp[8];
	json_object *list, *plugins, *cached = NULL, *prev = NULL;
	bool timing = false, add, del;
	size_t n, k;
	int i, rc = 0;

	if (argc < 6) {
		fprintf(stderr, "usage: pwcnirun ADD|DEL|CHECK CONFLIST CONTAINERID NETNS IFNAME "
				"[--args A] [--cgroup P] [--cni-path D] [--cache D] [--timing]\n");
		return 2;
	}
	cmd = argv[1];
	conflist = argv[2];
	cid = argv[3];
	netns = argv[4];
	ifname = argv[5];
	for (i = 6; i < argc; i++) {
		if (!strcmp(argv[i], "--timing"))
			timing = true;
		else if (i + 1 < argc && !strcmp(argv[i], "--args"))
			args = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--cgroup"))
			cgroup = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--ips"))
			ips = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--cni-path"))
			cni_path = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--cache"))
			cache_dir = argv[++i];
		else {
			fprintf(stderr, "pwcnirun: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	add = !strcmp(cmd, "ADD");
	del = !strcmp(cmd, "DEL");
	if (!add && !del && strcmp(cmd, "CHECK")) {
		fprintf(stderr, "pwcnirun: %s is not ADD, DEL or CHECK\n", cmd);
		return 2;
	}
	if (!cni_path) {
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);

		self[l > 0 ? l : 0] = '\0';
		if (strrchr(self, '/'))
			*strrchr(self, '/') = '\0';
		snprintf(defpath, sizeof(defpath), "/usr/lib/cni:%s", self);
		cni_path = defpath;
	}
	list = json_object_from_file(conflist);
	if (!list || !json_object_object_get_ex(list, "plugins", &plugins)) {
		fprintf(stderr, "pwcnirun: %s is not a conflist\n", conflist);
		return 2;
	}
	if (!cache_dir) {
		static char d[PATH_MAX];

		snprintf(d, sizeof(d), "%s", conflist);
		cache_dir = strrchr(d, '/') ? (*strrchr(d, '/') = '\0', d) : ".";
	}
	snprintf(cache, sizeof(cache), "%s/%s-%s.result", cache_dir,
		 json_object_get_string(json_object_object_get(list, "name")), cid);
	if (!add)
		cached = json_object_from_file(cache); /* NULL: DEL without prevResult */
	if (asprintf(&envp[0], "CNI_COMMAND=%s", cmd) < 0 ||
	    asprintf(&envp[1], "CNI_CONTAINERID=%s", cid) < 0 ||
	    asprintf(&envp[2], "CNI_NETNS=%s", netns) < 0 ||
	    asprintf(&envp[3], "CNI_IFNAME=%s", ifname) < 0 ||
	    asprintf(&envp[4], "CNI_ARGS=%s", args) < 0 ||
	    asprintf(&envp[5], "CNI_PATH=%s", cni_path) < 0 ||
	    asprintf(&envp[6], "PATH=/usr/sbin:/usr/bin:/sbin:/bin") < 0)
		return 2;
	envp[7] = NULL;
	n = json_object_array_length(plugins);
	for (k = 0; k < n; k++) {
		size_t idx = del ? n - 1 - k : k;
		json_object *p = json_object_array_get_idx(plugins, idx), *conf = NULL, *v, *caps,
			    *res;
		const char *type;
		char *path, *out = NULL;
		uint64_t us = 0;
		int st;

		json_object_deep_copy(p, &conf, NULL);
		json_object_object_add(conf, "cniVersion",
				       json_object_get(json_object_object_get(list, "cniVersion")));
		json_object_object_add(conf, "name",
				       json_object_get(json_object_object_get(list, "name")));
		json_object_object_del(conf, "capabilities");
		if (cgroup && json_object_object_get_ex(p, "capabilities", &caps) &&
		    json_object_object_get_ex(caps, "cgroupPath", &v) &&
		    json_object_get_boolean(v)) {
			json_object *rc_obj = json_object_new_object();

			json_object_object_add(rc_obj, "cgroupPath",
					       json_object_new_string(cgroup));
			json_object_object_add(conf, "runtimeConfig", rc_obj);
		}
		if (ips && json_object_object_get_ex(p, "capabilities", &caps) &&
		    json_object_object_get_ex(caps, "ips", &v) && json_object_get_boolean(v)) {
			json_object *rc_obj, *arr = json_object_new_array();
			char *copy = strdup(ips), *save = NULL, *tok;

			for (tok = strtok_r(copy, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save))
				json_object_array_add(arr, json_object_new_string(tok));
			free(copy);
			if (!json_object_object_get_ex(conf, "runtimeConfig", &rc_obj)) {
				rc_obj = json_object_new_object();
				json_object_object_add(conf, "runtimeConfig", rc_obj);
			}
			json_object_object_add(rc_obj, "ips", arr);
		}
		if (add && prev)
			json_object_object_add(conf, "prevResult", json_object_get(prev));
		else if (!add && cached)
			json_object_object_add(conf, "prevResult", json_object_get(cached));
		type = json_object_get_string(json_object_object_get(p, "type"));
		path = type ? find_plugin(cni_path, type) : NULL;
		if (!path) {
			fprintf(stderr, "pwcnirun: plugin %s not found in %s\n", type ?: "?",
				cni_path);
			json_object_put(conf);
			return 1;
		}
		st = exec_plugin(path, envp,
				 json_object_to_json_string_ext(conf, JSON_C_TO_STRING_PLAIN), &out,
				 &us);
		json_object_put(conf);
		free(path);
		if (timing)
			fprintf(stderr, "timing %s %llu\n", type, (unsigned long long)us);
		if (st != 0) {
			printf("%s", out ? out : "");
			fprintf(stderr, "pwcnirun: %s %s failed (exit %d)\n", type, cmd, st);
			free(out);
			return 1;
		}
		if (add) {
			res = json_tokener_parse(out);
			if (!res) {
				fprintf(stderr, "pwcnirun: %s ADD printed no result\n", type);
				free(out);
				return 1;
			}
			json_object_put(prev);
			prev = res;
		}
		free(out);
	}
	if (add) {
		json_object_to_file_ext(cache, prev, JSON_C_TO_STRING_PLAIN);
		printf("%s\n", json_object_to_json_string_ext(prev, JSON_C_TO_STRING_PLAIN));
	} else if (del) {
		unlink(cache);
	}
	json_object_put(prev);
	json_object_put(cached);
	json_object_put(list);
	return rc;
}
