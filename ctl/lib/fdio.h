/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Files and descriptors: write everything, read a bounded whole, make a directory path.
 * Functions return 0 or -errno.
 */
#ifndef PW_CTL_FDIO_H
#define PW_CTL_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Write all of buf, resuming after EINTR and short writes. A socket is written with
 * MSG_NOSIGNAL: a peer that went away is -EPIPE, not a SIGPIPE that kills the process.
 */
int pw_write_all(int fd, const void *buf, size_t len);

/*
 * Read fd to its end into a NUL-terminated buffer (*out, the caller frees; *len excludes the
 * NUL). -EFBIG when it holds more than max bytes: never buffers more than max + 1 of them,
 * so a pipe cannot make the caller use more memory. start: a first buffer size (0: 64 KiB).
 */
int pw_read_bounded(int fd, size_t max, size_t start, char **out, size_t *len);

/* mkdir -p: each missing directory of path with mode; existing ones are fine. */
int pw_mkdir_p(const char *path, mode_t mode);

#endif /* PW_CTL_FDIO_H */
