/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * v1 Service (type ClusterIP) and discovery.k8s.io/v1 EndpointSlice, as the parser produces
 * them (svcparse.c): validated and defaulted as the API server does (protocol TCP, targetPort =
 * port, ready = true when conditions.ready is absent). Included by model.h, whose object union
 * holds them; same ownership rules (every pointer owned, *_clear() accepts NULL).
 */
#ifndef PW_CTL_SVCMODEL_H
#define PW_CTL_SVCMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selector.h"

/* The label tying an EndpointSlice to its Service (set by the EndpointSlice controller) */
#define PW_LABEL_SERVICE_NAME "kubernetes.io/service-name"

/* A ServicePort. */
struct pw_svc_port {
	char *name;	   /* DNS-1123 label; required when the Service has several ports */
	uint8_t proto;	   /* IPPROTO_*; TCP by default */
	uint16_t port;	   /* the frontend port */
	uint16_t target;   /* numeric targetPort (defaults to port), 0 when named */
	char *target_name; /* named targetPort: a container port name, resolved per pod */
};

/* One address per family at most: clusterIPs[0] is spec.clusterIP. */
#define PW_SVC_MAX_IPS 2

struct pw_service {
	char *namespace;
	char *name;
	struct pw_labels labels;
	struct pw_labels annotations;
	bool headless; /* clusterIP: None: no frontend, nothing to translate */
	size_t n_ips;
	struct pw_addr ips[PW_SVC_MAX_IPS];
	size_t n_ports;
	struct pw_svc_port *ports;
};

struct pw_eps_port {
	char *name;    /* "" when absent: matches the Service port without a name */
	uint8_t proto; /* IPPROTO_*; TCP by default */
	bool port_set;
	uint16_t port;
};

struct pw_eps_endpoint {
	struct pw_addr addr; /* addresses[0]: the one consumers use, as kube-proxy does */
	size_t n_addrs;	     /* as written (1..100) */
	bool ready;	     /* conditions.ready; absent = ready (unknown is ready) */
	char *pod_ns;	     /* targetRef of kind Pod, or NULL */
	char *pod_name;
};

struct pw_epslice {
	char *namespace;
	char *name;
	struct pw_labels labels; /* carries kubernetes.io/service-name */
	struct pw_labels annotations;
	char *service;	/* the value of the service-name label */
	uint8_t family; /* addressType: PW_FAMILY_V4 or PW_FAMILY_V6 */
	size_t n_eps;
	struct pw_eps_endpoint *eps;
	size_t n_ports;
	struct pw_eps_port *ports;
};

void pw_service_clear(struct pw_service *s);
void pw_epslice_clear(struct pw_epslice *s);

#endif /* PW_CTL_SVCMODEL_H */
