// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * etcd v3 JSON gateway client: a libcurl multi handle in a thread of its own.
 *
 * Why a thread and not the multi handle's socket callbacks in the daemon's epoll loop: the
 * loop would then have to mirror libcurl's socket and timer bookkeeping (CURLMOPT_SOCKETFUNCTION,
 * CURLMOPT_TIMERFUNCTION) for a handful of requests per change; a thread that owns every curl
 * object and hands finished answers over through an eventfd is a smaller surface, and the loop
 * still never blocks, even when an endpoint black-holes connects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <curl/curl.h>

#include "etcd.h"

#define WATCH_LINE_MAX (64u << 20) /* one watch response; etcd's own limit is far lower */

enum job_kind { JOB_CALL, JOB_WATCH };

struct job {
	struct job *next;
	enum job_kind kind;
	uint64_t gen; /* watches: which stream */
	char *path;
	char *body;
	long timeout_ms;
	pw_etcd_cb cb, end_cb;
	void *ctx;
	CURL *h;
	struct curl_slist *hdrs;
	char *buf;
	size_t len, cap;
	size_t url; /* index of the endpoint in use */
	unsigned int tries;
	bool got_data; /* watches: a line arrived (no failover after that) */
	char errbuf[CURL_ERROR_SIZE];
	struct pw_etcd *e;
};

struct result {
	struct result *next;
	pw_etcd_cb cb;
	void *ctx;
	int err;
	json_object *resp;
	char *msg;
	bool watch;
	uint64_t gen;
};

struct pw_etcd {
	char **urls;
	size_t n_urls;
	char *cacert, *cert, *key;
	long connect_timeout_ms;
	int efd;
	pthread_t thr;
	bool started;
	CURLM *multi;

	pthread_mutex_t mu; /* guards everything below */
	struct job *incoming;
	struct result *results, **results_tail;
	bool stop;
	bool watch_stop;    /* the thread drops its current watch */
	size_t cur_url;	    /* where requests start */
	uint64_t watch_gen; /* the loop's current stream: older lines are dropped */

	struct job *watch; /* thread only */
};

/* --- base64 (RFC 4648): a few lines, not worth a library ---------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_object *pw_etcd_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	json_object *j;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	j = json_object_new_string(out);
	free(out);
	return j;
}

json_object *pw_etcd_str(const char *s)
{
	return pw_etcd_bytes(s, strlen(s));
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

int pw_etcd_get_bytes(json_object *o, const char *field, char **out, size_t *len)
{
	json_object *v;
	const char *s;
	size_t n, i, k = 0;
	char *buf;

	*out = NULL;
	*len = 0;
	if (!json_object_object_get_ex(o, field, &v) || !json_object_is_type(v, json_type_string)) {
		/* proto3 JSON leaves empty bytes out */
		*out = strdup("");
		return *out ? 0 : -ENOMEM;
	}
	s = json_object_get_string(v);
	n = strlen(s);
	if (n % 4)
		return -EINVAL;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < n; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = s[i + 2] == '=' ? 0 : b64_val(s[i + 2]);
		int d = s[i + 3] == '=' ? 0 : b64_val(s[i + 3]);
		uint32_t v3;

		if (a < 0 || b < 0 || c < 0 || d < 0 || (s[i + 2] == '=' && s[i + 3] != '=') ||
		    ((s[i + 2] == '=' || s[i + 3] == '=') && i + 4 != n)) {
			free(buf);
			return -EINVAL;
		}
		v3 = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		buf[k++] = (char)(v3 >> 16);
		if (s[i + 2] != '=')
			buf[k++] = (char)(v3 >> 8 & 0xff);
		if (s[i + 3] != '=')
			buf[k++] = (char)(v3 & 0xff);
	}
	buf[k] = '\0';
	*out = buf;
	*len = k;
	return 0;
}

int64_t pw_etcd_get_i64(json_object *o, const char *field)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, field, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	return json_object_get_int64(v);
}

json_object *pw_etcd_i64(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return json_object_new_string(buf);
}

json_object *pw_etcd_prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = strdup(prefix);
	json_object *j;

	if (!end)
		return NULL;
	/* the prefixes are ASCII paths: the last byte never is 0xff */
	end[n - 1]++;
	j = pw_etcd_bytes(end, n);
	free(end);
	return j;
}

/* --- endpoints ------------------------------------------------------------------------------ */

/* http(s)://host:port with an IPv4 address, a name or a bracketed IPv6 address; no path */
static int url_check(const char *s, char **norm, char *why, size_t why_len)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	int err = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, s, 0)) {
		snprintf(why, why_len,
			 "--etcd: \"%s\" is not a URL (http://HOST:PORT; IPv6 as "
			 "http://[ADDR]:PORT)",
			 s);
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (!scheme || (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
		snprintf(why, why_len, "--etcd: \"%s\": the scheme must be http or https", s);
		goto out;
	}
	if (!host || !*host) {
		snprintf(why, why_len, "--etcd: \"%s\" names no host", s);
		goto out;
	}
	if (path && strcmp(path, "/") && *path) {
		snprintf(why, why_len, "--etcd: \"%s\": an endpoint has no path", s);
		goto out;
	}
	/* host keeps its brackets for IPv6 */
	if (asprintf(norm, "%s://%s:%s", scheme, host, port ? port : "2379") < 0) {
		*norm = NULL;
		err = -ENOMEM;
		goto out;
	}
	err = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return err;
}

/* "URL,URL": each checked and normalised into *urls (malloc'ed), at least one */
static int endpoints_parse(const char *endpoints, char ***urls, size_t *n_urls, char *why,
			   size_t why_len)
{
	char *list = strdup(endpoints), *tok, *save = NULL;
	int err = -ENOMEM;

	*urls = NULL;
	*n_urls = 0;
	if (!list)
		return -ENOMEM;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **nv = realloc(*urls, (*n_urls + 1) * sizeof(*nv));

		if (!nv)
			goto out;
		*urls = nv;
		err = url_check(tok, &nv[*n_urls], why, why_len);
		if (err)
			goto out;
		(*n_urls)++;
	}
	err = 0;
	if (!*n_urls) {
		snprintf(why, why_len, "--etcd: no endpoint in \"%s\"", endpoints);
		err = -EINVAL;
	}
out:
	free(list);
	return err;
}

int pw_etcd_check_endpoints(const char *endpoints, char *why, size_t why_len)
{
	char **urls = NULL;
	size_t n = 0;
	int err;

	if (!endpoints || !*endpoints) {
		snprintf(why, why_len, "--etcd: no endpoint");
		return -EINVAL;
	}
	err = endpoints_parse(endpoints, &urls, &n, why, why_len);
	for (size_t i = 0; i < n; i++)
		free(urls[i]);
	free(urls);
	return err;
}

const char *pw_etcd_endpoint(const struct pw_etcd *e)
{
	return e->urls[e->cur_url % e->n_urls];
}

/* --- the thread ----------------------------------------------------------------------------- */

static void post(struct pw_etcd *e, struct result *r)
{
	uint64_t one = 1;

	pthread_mutex_lock(&e->mu);
	r->next = NULL;
	*e->results_tail = r;
	e->results_tail = &r->next;
	pthread_mutex_unlock(&e->mu);
	if (write(e->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in practice; the loop reads it on every wake */
	}
}

static void post_result(struct pw_etcd *e, struct job *j, pw_etcd_cb cb, int err, json_object *resp,
			const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void post_result(struct pw_etcd *e, struct job *j, pw_etcd_cb cb, int err, json_object *resp,
			const char *fmt, ...)
{
	struct result *r = calloc(1, sizeof(*r));
	va_list ap;

	if (!r) {
		json_object_put(resp);
		return;
	}
	r->cb = cb;
	r->ctx = j->ctx;
	r->err = err;
	r->resp = resp;
	r->watch = j->kind == JOB_WATCH;
	r->gen = j->gen;
	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&r->msg, fmt, ap) < 0)
			r->msg = NULL;
		va_end(ap);
	}
	post(e, r);
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	if (j->h) {
		curl_multi_remove_handle(j->e->multi, j->h);
		curl_easy_cleanup(j->h);
	}
	curl_slist_free_all(j->hdrs);
	free(j->path);
	free(j->body);
	free(j->buf);
	free(j);
}

/* A watch stream: one JSON object per line (grpc-gateway's delimiter). */
static void watch_lines(struct job *j)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(j->buf + start, '\n', j->len - start))) {
		size_t n = (size_t)(nl - (j->buf + start));
		json_tokener *tok;
		json_object *o;

		*nl = '\0';
		if (n) {
			tok = json_tokener_new_ex(64);
			o = tok ? json_tokener_parse_ex(tok, j->buf + start, (int)n) : NULL;
			json_tokener_free(tok);
			if (o) {
				j->got_data = true;
				post_result(j->e, j, j->cb, 0, o, NULL);
			}
		}
		start += n + 1;
	}
	memmove(j->buf, j->buf + start, j->len - start);
	j->len -= start;
}

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	struct job *j = ud;
	size_t n = sz * nm;

	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 4096;
		char *nb;

		while (cap < j->len + n + 1)
			cap *= 2;
		if (cap > WATCH_LINE_MAX * 2)
			return 0; /* aborts the transfer */
		nb = realloc(j->buf, cap);
		if (!nb)
			return 0;
		j->buf = nb;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, p, n);
	j->len += n;
	j->buf[j->len] = '\0';
	if (j->kind == JOB_WATCH)
		watch_lines(j);
	return n;
}

static int job_start(struct pw_etcd *e, struct job *j)
{
	char url[512];

	if (j->h) {
		curl_multi_remove_handle(e->multi, j->h);
		curl_easy_cleanup(j->h);
	}
	j->len = 0;
	j->h = curl_easy_init();
	if (!j->h)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s%s", e->urls[j->url % e->n_urls], j->path);
	curl_easy_setopt(j->h, CURLOPT_URL, url);
	curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
	curl_easy_setopt(j->h, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(j->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(j->h, CURLOPT_NOPROXY, "*"); /* etcd is never reached through a proxy */
	curl_easy_setopt(j->h, CURLOPT_CONNECTTIMEOUT_MS, e->connect_timeout_ms);
	if (j->kind == JOB_CALL)
		curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, j->timeout_ms);
	/* a peer that vanishes without a FIN still ends the stream */
	curl_easy_setopt(j->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(j->h, CURLOPT_TCP_KEEPIDLE, 5L);
	curl_easy_setopt(j->h, CURLOPT_TCP_KEEPINTVL, 2L);
	if (e->cacert)
		curl_easy_setopt(j->h, CURLOPT_CAINFO, e->cacert);
	if (e->cert)
		curl_easy_setopt(j->h, CURLOPT_SSLCERT, e->cert);
	if (e->key)
		curl_easy_setopt(j->h, CURLOPT_SSLKEY, e->key);
	j->errbuf[0] = '\0';
	if (curl_multi_add_handle(e->multi, j->h))
		return -ENOMEM;
	return 0;
}

static bool connect_failure(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SSL_CONNECT_ERROR ||
	       rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING;
}

static void job_done(struct pw_etcd *e, struct job *j, CURLcode rc)
{
	const char *url = e->urls[j->url % e->n_urls];
	long status = 0;

	curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK && connect_failure(rc) && !j->got_data && ++j->tries < e->n_urls) {
		/* the next endpoint of the same cluster */
		j->url++;
		if (!job_start(e, j))
			return;
	}
	if (rc == CURLE_OK && status == 200 && j->tries) {
		pthread_mutex_lock(&e->mu);
		e->cur_url = j->url % e->n_urls;
		pthread_mutex_unlock(&e->mu);
	}
	if (j->kind == JOB_WATCH) {
		if (rc != CURLE_OK)
			post_result(e, j, j->end_cb, -EIO, NULL, "etcd at %s: watch: %s", url,
				    j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
		else
			post_result(e, j, j->end_cb, -EPIPE, NULL,
				    "etcd at %s: the watch stream ended (HTTP %ld)", url, status);
		if (e->watch == j)
			e->watch = NULL;
		job_free(j);
		return;
	}
	if (rc != CURLE_OK) {
		post_result(e, j, j->cb,
			    rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED, NULL,
			    "etcd at %s is unreachable: %s", url,
			    j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
	} else {
		json_object *o = json_tokener_parse(j->buf ? j->buf : "");

		if (status != 200) {
			const char *m =
				o ? json_object_get_string(json_object_object_get(o, "error"))
				  : NULL;

			if (!m && o)
				m = json_object_get_string(json_object_object_get(o, "message"));
			post_result(e, j, j->cb, -EIO, NULL, "etcd at %s: %s: HTTP %ld: %s", url,
				    j->path, status, m ? m : "no message");
			json_object_put(o);
		} else if (!o || !json_object_is_type(o, json_type_object)) {
			post_result(e, j, j->cb, -EBADMSG, NULL,
				    "etcd at %s: %s: the answer is not a JSON object", url,
				    j->path);
			json_object_put(o);
		} else {
			post_result(e, j, j->cb, 0, o, NULL);
		}
	}
	job_free(j);
}

static void *thread_main(void *arg)
{
	struct pw_etcd *e = arg;

	for (;;) {
		struct job *in, *next;
		CURLMsg *m;
		bool stop, wstop;
		int running, left;

		pthread_mutex_lock(&e->mu);
		in = e->incoming;
		e->incoming = NULL;
		stop = e->stop;
		wstop = e->watch_stop;
		e->watch_stop = false;
		pthread_mutex_unlock(&e->mu);
		if (wstop && e->watch) {
			job_free(e->watch);
			e->watch = NULL;
		}
		/* queued in reverse: start in submission order */
		for (struct job *rev = NULL;; in = next) {
			if (!in) {
				in = rev;
				break;
			}
			next = in->next;
			in->next = rev;
			rev = in;
		}
		for (; in; in = next) {
			next = in->next;
			if (stop) {
				job_free(in);
				continue;
			}
			if (in->kind == JOB_WATCH) {
				job_free(e->watch);
				e->watch = in;
			}
			if (job_start(e, in)) {
				post_result(e, in, in->kind == JOB_WATCH ? in->end_cb : in->cb,
					    -ENOMEM, NULL, "etcd: cannot start a request");
				if (e->watch == in)
					e->watch = NULL;
				job_free(in);
			}
		}
		if (stop)
			break;
		curl_multi_perform(e->multi, &running);
		while ((m = curl_multi_info_read(e->multi, &left))) {
			struct job *j = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			if (j)
				job_done(e, j, m->data.result);
		}
		curl_multi_poll(e->multi, NULL, 0, 1000, NULL);
	}
	job_free(e->watch);
	e->watch = NULL;
	return NULL;
}

/* --- the loop's side ------------------------------------------------------------------------ */

static int submit(struct pw_etcd *e, struct job *j)
{
	j->e = e;
	j->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (!j->hdrs)
		return -ENOMEM;
	pthread_mutex_lock(&e->mu);
	j->url = e->cur_url;
	if (j->kind == JOB_WATCH)
		j->gen = ++e->watch_gen;
	j->next = e->incoming;
	e->incoming = j;
	pthread_mutex_unlock(&e->mu);
	curl_multi_wakeup(e->multi);
	return 0;
}

static struct job *job_new(enum job_kind k, const char *path, json_object *body)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		goto fail;
	j->kind = k;
	j->path = strdup(path);
	j->body =
		body ? strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)) : NULL;
	if (!j->path || !j->body)
		goto fail;
	json_object_put(body);
	return j;
fail:
	json_object_put(body);
	if (j) {
		free(j->path);
		free(j->body);
		free(j);
	}
	return NULL;
}

int pw_etcd_call(struct pw_etcd *e, const char *path, json_object *body, long timeout_ms,
		 pw_etcd_cb cb, void *ctx)
{
	struct job *j = job_new(JOB_CALL, path, body);
	int err;

	if (!j)
		return -ENOMEM;
	j->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	j->cb = cb;
	j->ctx = ctx;
	err = submit(e, j);
	if (err)
		job_free(j);
	return err;
}

int pw_etcd_watch(struct pw_etcd *e, json_object *create_request, pw_etcd_cb on_msg,
		  pw_etcd_cb on_end, void *ctx)
{
	json_object *body = json_object_new_object();
	struct job *j;
	int err;

	if (!body) {
		json_object_put(create_request);
		return -ENOMEM;
	}
	json_object_object_add(body, "create_request", create_request);
	j = job_new(JOB_WATCH, "/v3/watch", body);
	if (!j)
		return -ENOMEM;
	j->cb = on_msg;
	j->end_cb = on_end;
	j->ctx = ctx;
	err = submit(e, j);
	if (err)
		job_free(j);
	return err;
}

void pw_etcd_watch_stop(struct pw_etcd *e)
{
	pthread_mutex_lock(&e->mu);
	e->watch_gen++; /* lines already queued are dropped */
	e->watch_stop = true;
	pthread_mutex_unlock(&e->mu);
	curl_multi_wakeup(e->multi);
}

int pw_etcd_fd(const struct pw_etcd *e)
{
	return e->efd;
}

void pw_etcd_dispatch(struct pw_etcd *e)
{
	struct result *r, *next;
	uint64_t cnt, gen;

	if (read(e->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: another dispatch took them */
	}
	pthread_mutex_lock(&e->mu);
	r = e->results;
	e->results = NULL;
	e->results_tail = &e->results;
	gen = e->watch_gen;
	pthread_mutex_unlock(&e->mu);
	for (; r; r = next) {
		next = r->next;
		if (r->cb && (!r->watch || r->gen == gen))
			r->cb(r->ctx, r->err, r->resp, r->msg);
		json_object_put(r->resp);
		free(r->msg);
		free(r);
	}
}

int pw_etcd_new(const struct pw_etcd_opts *opts, struct pw_etcd **out, char *why, size_t why_len)
{
	struct pw_etcd *e;
	int err = -ENOMEM;

	*out = NULL;
	snprintf(why, why_len, "out of memory");
	if (!opts || !opts->endpoints || !*opts->endpoints) {
		snprintf(why, why_len, "--etcd: no endpoint");
		return -EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(why, why_len, "libcurl cannot initialise");
		return -EIO;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->efd = -1;
	pthread_mutex_init(&e->mu, NULL);
	e->results_tail = &e->results;
	e->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 2000;
	err = endpoints_parse(opts->endpoints, &e->urls, &e->n_urls, why, why_len);
	if (err)
		goto fail;
	err = -ENOMEM;
	if ((opts->cacert && !(e->cacert = strdup(opts->cacert))) ||
	    (opts->cert && !(e->cert = strdup(opts->cert))) ||
	    (opts->key && !(e->key = strdup(opts->key))))
		goto fail;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0) {
		err = -errno;
		goto fail;
	}
	e->multi = curl_multi_init();
	if (!e->multi)
		goto fail;
	err = -pthread_create(&e->thr, NULL, thread_main, e);
	if (err)
		goto fail;
	e->started = true;
	*out = e;
	return 0;
fail:
	pw_etcd_free(e);
	return err;
}

void pw_etcd_free(struct pw_etcd *e)
{
	struct result *r, *rn;
	struct job *j, *jn;

	if (!e)
		return;
	if (e->started) {
		pthread_mutex_lock(&e->mu);
		e->stop = true;
		pthread_mutex_unlock(&e->mu);
		curl_multi_wakeup(e->multi);
		pthread_join(e->thr, NULL);
	}
	for (j = e->incoming; j; j = jn) {
		jn = j->next;
		job_free(j);
	}
	for (r = e->results; r; r = rn) {
		rn = r->next;
		json_object_put(r->resp);
		free(r->msg);
		free(r);
	}
	if (e->multi)
		curl_multi_cleanup(e->multi);
	if (e->efd >= 0)
		close(e->efd);
	for (size_t i = 0; i < e->n_urls; i++)
		free(e->urls[i]);
	free(e->urls);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	pthread_mutex_destroy(&e->mu);
	free(e);
}
