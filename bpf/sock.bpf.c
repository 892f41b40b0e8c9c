/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* PLACEHOLDER until the socket enforcement programs land: allow everything. */
#include "lib/maps.h"

/* cgroup v2 level of --cgroup-root; pod cgroups are below it. Set by the loader. */
const volatile __u32 pw_cgroup_root_level = 0;

SEC("cgroup/connect4")
int pw_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/connect6")
int pw_connect6(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg4")
int pw_sendmsg4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg6")
int pw_sendmsg6(struct bpf_sock_addr *ctx)
{
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
