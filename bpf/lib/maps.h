/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map definitions, included by every BPF object so that both objects declare identical maps:
 * the datapath library pins them under --bpffs and the second object adopts the first's pins.
 * Sizes here are defaults; the library resizes before load (bpf_map__set_max_entries).
 */
#ifndef PW_BPF_MAPS_H
#define PW_BPF_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <podwall/shared.h>
#include <podwall/service.h>

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PW_IPCACHE_MAX_DEFAULT);
	__type(key, struct pw_ipcache_key);
	__type(value, struct pw_ipcache_val);
} PW_MAP_IPCACHE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_EP_MAX_DEFAULT);
	__type(key, __u32); /* ifindex */
	__type(value, struct pw_endpoint);
} PW_MAP_EP_IF SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_EP_MAX_DEFAULT);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct pw_endpoint);
} PW_MAP_EP_CG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PW_POLICY_MAX_DEFAULT);
	__type(key, struct pw_policy_key);
	__type(value, struct pw_policy_val);
} PW_MAP_POLICY SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_CT_MAX_DEFAULT);
	__type(key, struct pw_ct_key);
	__type(value, struct pw_ct_entry);
} PW_MAP_CT SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_FRAG_MAX_DEFAULT);
	__type(key, struct pw_frag_key);
	__type(value, struct pw_frag_val);
} PW_MAP_FRAG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} PW_MAP_EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_METRICS_SLOTS);
	__type(key, __u32);
	__type(value, struct pw_metric);
} PW_MAP_METRICS SEC(".maps");

/* drop folding (struct pw_fold in shared.h): written by the TC programs, read by the reader */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_fold);
} PW_MAP_FOLD SEC(".maps");

/* the reader's share of it; no program touches it, it is pinned so the next reader knows */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_fold_ack);
} PW_MAP_FOLDACK SEC(".maps");

/* Services: only the socket programs read them; declared here so both objects share pins */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_SVC_MAX_DEFAULT);
	__type(key, struct pw_svc_key);
	__type(value, struct pw_svc_val);
} PW_MAP_SVC SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_BACKEND_MAX_DEFAULT);
	__type(key, __u32); /* backend id */
	__type(value, struct pw_backend);
} PW_MAP_BACKEND SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_SVC_REV_MAX_DEFAULT);
	__type(key, struct pw_svc_rev_key);
	__type(value, struct pw_svc_rev_val);
} PW_MAP_SVC_REV SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_SVC_FLOW_MAX_DEFAULT);
	__type(key, struct pw_svc_flow_key);
	__type(value, struct pw_svc_rev_val);
} PW_MAP_SVC_FLOW SEC(".maps");

#endif /* PW_BPF_MAPS_H */
