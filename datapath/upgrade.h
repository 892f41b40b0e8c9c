/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Carrying state across a map layout change (upgrade.c), for the lifecycle (dp.c) above it. */
#ifndef PW_DATAPATH_UPGRADE_H
#define PW_DATAPATH_UPGRADE_H

#include "objects.h"

/* Endpoints of the v1 maps copied into v2, MACs learned, before the new programs go live. */
int pw_upgrade_endpoints(struct pw_dp *dp);

/* Flows of pw_ct_v1 carried into v2 under their new keys, before the new programs go live. */
int pw_upgrade_conntrack(struct pw_dp *dp);

#endif /* PW_DATAPATH_UPGRADE_H */
