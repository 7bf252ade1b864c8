#!/usr/bin/env python3
"""Publishes upload events to a running `plexus serve` with Python's grpcio.

Usage:
    python3 publish.py unix:/path/to/plexus.sock [COUNT]
    PLEXUS_INGEST_TOKEN=... python3 publish.py 127.0.0.1:7878 [COUNT]

Needs `pip install grpcio grpcio-tools`. The stubs are generated from
Plexus's proto files (proto/proto/eventbus.proto and notifier.proto) into a
temporary directory at start, so nothing else needs to be set up.
"""
import os
import sys
import tempfile
import time

import grpc
import grpc_tools
from grpc_tools import protoc

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "proto", "proto")


def load_stubs(proto_dir=PROTO_DIR):
    """Generates and imports the ingestion API's stubs."""
    out = tempfile.mkdtemp(prefix="plexus-stubs-")
    status = protoc.main([
        "grpc_tools.protoc", f"-I{proto_dir}",
        # google/protobuf/empty.proto, which notifier.proto imports, ships with grpcio-tools.
        f"-I{os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')}",
        f"--python_out={out}", f"--grpc_python_out={out}",
        "eventbus.proto", "notifier.proto",
    ])
    if status != 0:
        raise RuntimeError(f"protoc failed on the proto files in {proto_dir}")
    sys.path.insert(0, out)
    import eventbus_pb2, eventbus_pb2_grpc, notifier_pb2  # noqa: E401
    return eventbus_pb2, eventbus_pb2_grpc, notifier_pb2


def credentials():
    """The call metadata: over TCP the daemon wants the ingestion token."""
    token = os.environ.get("PLEXUS_INGEST_TOKEN")
    return [("authorization", f"Bearer {token}")] if token else []


def upload(notifier_pb2, eventbus_pb2, i, user="python-client"):
    fs = notifier_pb2.FsEvent(
        timestamp=time.time_ns(), action="upload", username=user,
        fs_path=f"/srv/{user}/file-{i}", virtual_path=f"/file-{i}",
        protocol="SFTP", status=1, file_size=1024 * i, ip="127.0.0.1",
    )
    return eventbus_pb2.Event(fs=fs)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    target, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
    eventbus_pb2, eventbus_pb2_grpc, notifier_pb2 = load_stubs()
    with grpc.insecure_channel(target) as channel:
        bus = eventbus_pb2_grpc.EventBusStub(channel)
        reply = bus.Publish(eventbus_pb2.PublishRequest(event=upload(notifier_pb2, eventbus_pb2, 0)),
                            metadata=credentials(), timeout=30)
        print(f"Publish: {reply.targets} notifiers matched")
        if count > 1:
            batch = eventbus_pb2.PublishBatchRequest(
                events=[upload(notifier_pb2, eventbus_pb2, i) for i in range(1, count)])
            reply = bus.PublishBatch(batch, metadata=credentials(), timeout=30)
            if reply.error:
                sys.exit(f"PublishBatch accepted {reply.accepted} of {count - 1}: {reply.error}")
            print(f"PublishBatch: {reply.accepted} accepted")


if __name__ == "__main__":
    main()
