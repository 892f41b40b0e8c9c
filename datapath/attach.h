/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Attaching (attach.c), as the lifecycle (dp.c) drives it. */
#ifndef PW_DATAPATH_ATTACH_H
#define PW_DATAPATH_ATTACH_H

#include "objects.h"

int pw_attach_probe_tcx(struct pw_dp *dp);
int pw_attach_sock(struct pw_dp *dp);
int pw_attach_refresh_tc(struct pw_dp *dp);
int pw_attach_detach_all(struct pw_dp *dp);
void pw_attach_release(struct pw_dp *dp);

#endif /* PW_DATAPATH_ATTACH_H */
