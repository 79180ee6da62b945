#!/usr/bin/env bash
# Installs Debian's redis-server (and redis-cli, from redis-tools) unless
# they are there: the fleet tests and scripts/fleet.sh run a real Redis.
set -euo pipefail
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
	exit 0
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq redis-server >/dev/null
redis-server --version
