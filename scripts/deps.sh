#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Install the Debian 12 packages podwall builds and tests with, when any is missing.
set -euo pipefail

pkgs=(cmake make gcc clang llvm pkg-config bpftool iproute2 util-linux
	libbpf-dev libelf-dev zlib1g-dev libmnl-dev libcmocka-dev libfyaml-dev libjson-c-dev
	linux-libc-dev jq libmicrohttpd-dev prometheus curl libcurl4-openssl-dev etcd-server
	etcd-client iptables openssl containernetworking-plugins)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
