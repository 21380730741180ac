#!/usr/bin/env bash
# Regenerates the Pub/Sub API stubs in connectors/salesforce/pubsub/generated/ from
# connectors/salesforce/pubsub/pubsub_api.proto (grpcio-tools, a dev dependency).
# The proto path is mapped onto the package so the generated *_grpc module imports
# its messages as connectors.salesforce.pubsub.generated.pubsub_api_pb2.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
out=connectors/salesforce/pubsub/generated
"$python" -m grpc_tools.protoc \
    --proto_path="$out=connectors/salesforce/pubsub" \
    --python_out=. --pyi_out=. --grpc_python_out=. \
    "$out/pubsub_api.proto"
touch "$out/__init__.py"
