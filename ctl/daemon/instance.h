/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A daemon instance and the state it keeps on disk. An instance is named by its --bpffs pin
 * root (the datapath it owns, in lexically normalised absolute form): two daemons with
 * different --bpffs are different instances and never share a state directory.
 *
 * - The default --state-dir is derived from the instance: PW_STATE_ROOT/<bpffs escaped as
 *   systemd escapes paths>, e.g. /sys/fs/bpf/podwall -> /var/lib/podwall/sys-fs-bpf-podwall.
 * - A state directory is claimed by the instance that first used it: DIR/instance records its
 *   bpffs; a daemon of another instance refuses the directory (its journal and counters) as a
 *   whole, and a second live daemon is refused too (the file is flock()ed while a daemon runs).
 */
#ifndef PW_CTL_INSTANCE_H
#define PW_CTL_INSTANCE_H

#include <stddef.h>

#define PW_STATE_ROOT	 "/var/lib/podwall"
#define PW_INSTANCE_FILE "instance"

/* bpffs as an absolute path without "//", "/./", "/../" or a trailing slash. */
int pw_instance_id(const char *bpffs, char *out, size_t n);

/* The default state directory of the instance with this --bpffs. */
int pw_instance_state_dir(const char *bpffs, char *out, size_t n);

struct pw_instance_claim {
	int fd;		      /* DIR/instance, locked; -1 when none */
	int legacy;	      /* the directory held state from before instance ids: adopted */
	char owner[4096];     /* on -EEXIST: the instance (bpffs) the directory belongs to */
};

/*
 * Create state_dir (0700) if needed and claim it for bpffs. Returns 0 (c->fd held until
 * pw_instance_release), -EEXIST (another instance's: c->owner names it), -EBUSY (a running
 * daemon holds it), -EBADMSG (DIR/instance is not one this code wrote) or another -errno.
 */
int pw_instance_claim(const char *state_dir, const char *bpffs, struct pw_instance_claim *c);
void pw_instance_release(struct pw_instance_claim *c);

#endif
