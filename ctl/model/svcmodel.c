// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Service and EndpointSlice objects (svcmodel.h): destructors. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

void pw_service_clear(struct pw_service *s)
{
	size_t i;

	if (!s)
		return;
	free(s->namespace);
	free(s->name);
	pw_labels_clear(&s->labels);
	pw_labels_clear(&s->annotations);
	for (i = 0; i < s->n_ports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_name);
	}
	free(s->ports);
	memset(s, 0, sizeof(*s));
}

void pw_epslice_clear(struct pw_epslice *s)
{
	size_t i;

	if (!s)
		return;
	free(s->namespace);
	free(s->name);
	free(s->service);
	pw_labels_clear(&s->labels);
	pw_labels_clear(&s->annotations);
	for (i = 0; i < s->n_eps; i++) {
		free(s->eps[i].pod_ns);
		free(s->eps[i].pod_name);
	}
	free(s->eps);
	for (i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	memset(s, 0, sizeof(*s));
}
