#!/usr/bin/env bash
#
# confluent_venv.sh - make the Python venv with Confluent's official client
# (confluent-kafka[schemaregistry,protobuf] from PyPI) that
# tests/registry/confluent_clients.py uses, under .devstack/cfvenv.
# Idempotent: does nothing when the venv already imports it at the pinned
# version. Prints the venv's python path on stdout (tests/support/pyvenv.sh).
#
#   tests/registry/confluent_venv.sh     # -> /path/to/repo/.devstack/cfvenv/bin/python
#
# Needs python3 with the venv module (Debian 12: package python3-venv).
set -euo pipefail

CONFLUENT_KAFKA_VERSION=2.16.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TP_VENV_DIR=${TP_CFVENV:-${TP_VENV_DIR:-}} exec bash "$here/../support/pyvenv.sh" cfvenv \
	--import confluent_kafka --import confluent_kafka.schema_registry.protobuf \
	"confluent-kafka[schemaregistry,protobuf]==$CONFLUENT_KAFKA_VERSION"
