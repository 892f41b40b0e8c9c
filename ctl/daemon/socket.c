// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the control socket (created root-only under its directory) and systemd's
 * readiness notification.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- control socket ---------------------------------------------------------------------- */

static int dirname_of(const char *path, char *buf, size_t len)
{
	char *slash;

	if (snprintf(buf, len, "%s", path) >= (int)len)
		return -ENAMETOOLONG;
	slash = strrchr(buf, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == buf)
		buf[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

int socket_open(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	mode_t old;
	int fd, err;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path)) {
		dlog(PW_LOG_ERROR, "--socket %s: longer than %zu bytes", d->socket_path,
		     sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->socket_path);
	err = dirname_of(d->socket_path, dir, sizeof(dir));
	if (!err)
		err = pw_mkdir_p(dir, 0755);
	if (err) {
		dlog(PW_LOG_ERROR, "--socket %s: cannot create its directory: %s", d->socket_path,
		     strerror(-err));
		return err;
	}
	/* a socket file nobody listens on is a crashed daemon's: take it over */
	fd = pw_proto_connect(d->socket_path);
	if (fd >= 0) {
		close(fd);
		dlog(PW_LOG_ERROR, "--socket %s: another podwalld is listening there",
		     d->socket_path);
		return -EADDRINUSE;
	}
	if (fd == -ECONNREFUSED)
		unlink(d->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177); /* born 0600: no window where others could connect */
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && chmod(d->socket_path, 0600))
		err = -errno;
	if (!err && listen(fd, 64))
		err = -errno;
	if (err) {
		dlog(PW_LOG_ERROR, "--socket %s: %s", d->socket_path, strerror(-err));
		close(fd);
		return err;
	}
	d->socket_bound = true;
	err = watch_add(d, &d->listen, fd, listen_ready, EPOLLIN);
	if (err)
		close(fd);
	return err;
}

/* systemd Type=notify, without libsystemd: one datagram to $NOTIFY_SOCKET */
void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)!sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}
