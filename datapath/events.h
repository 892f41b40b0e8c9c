/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The event reader (events.c), as the lifecycle (dp.c) closes it. */
#ifndef PW_DATAPATH_EVENTS_H
#define PW_DATAPATH_EVENTS_H

#include "objects.h"

void pw_events_close(struct pw_dp *dp);

#endif /* PW_DATAPATH_EVENTS_H */
