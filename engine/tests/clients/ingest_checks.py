#!/usr/bin/env python3
"""The refusals and the reflection of the ingestion API, as Python's grpcio
sees them. Run by engine/tests/other_clients.rs against a `plexus serve`
whose ingest_max_batch is 100 and ingest_max_message_bytes 65536.

Usage: ingest_checks.py TARGET  (token, if any, from PLEXUS_INGEST_TOKEN)
Prints one line per check and exits non-zero at the first that fails.
"""
import collections
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "examples", "clients", "python"))
import publish  # noqa: E402


def expect_refusal(call, code, phrase):
    try:
        call()
    except grpc.RpcError as err:
        if err.code() != code or phrase not in err.details():
            sys.exit(f"expected {code} naming {phrase!r}, got {err.code()}: {err.details()}")
        return err.details()
    sys.exit(f"expected {code}, the call succeeded")


def main():
    target = sys.argv[1]
    eventbus_pb2, eventbus_pb2_grpc, notifier_pb2 = publish.load_stubs()
    metadata = publish.credentials()
    with grpc.insecure_channel(target) as channel:
        bus = eventbus_pb2_grpc.EventBusStub(channel)

        too_many = eventbus_pb2.PublishBatchRequest(
            events=[publish.upload(notifier_pb2, eventbus_pb2, i, "refused") for i in range(101)])
        details = expect_refusal(lambda: bus.PublishBatch(too_many, metadata=metadata, timeout=30),
                                 grpc.StatusCode.INVALID_ARGUMENT, "engine.ingest_max_batch")
        print(f"batch over ingest_max_batch: INVALID_ARGUMENT: {details}")

        big = publish.upload(notifier_pb2, eventbus_pb2, 0, "refused")
        big.fs.metadata["padding"] = "x" * 100_000
        details = expect_refusal(
            lambda: bus.Publish(eventbus_pb2.PublishRequest(event=big), metadata=metadata, timeout=30),
            grpc.StatusCode.RESOURCE_EXHAUSTED, "engine.ingest_max_message_bytes")
        print(f"message over ingest_max_message_bytes: RESOURCE_EXHAUSTED: {details}")

    # Server reflection: what grpcurl and similar tools use instead of the
    # proto files. The descriptor database speaks grpc.reflection.v1alpha.
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )
    with grpc.insecure_channel(target) as channel:
        if metadata:
            channel = grpc.intercept_channel(channel, _Metadata(metadata))
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        if "plexus.v1.EventBus" not in services:
            sys.exit(f"reflection does not list plexus.v1.EventBus: {services}")
        method = database.FindFileContainingSymbol("plexus.v1.EventBus")
        if method.name != "eventbus.proto":
            sys.exit(f"reflection gave {method.name} for plexus.v1.EventBus")
        print(f"reflection lists: {', '.join(services)}")


class _CallDetails(collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
        grpc.ClientCallDetails):
    pass


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the token to every call the reflection client makes."""

    def __init__(self, metadata):
        self._metadata = metadata

    def _with_metadata(self, details):
        return _CallDetails(details.method, details.timeout,
                            list(details.metadata or []) + self._metadata, details.credentials,
                            details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_metadata(details), request)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_metadata(details), requests)


if __name__ == "__main__":
    main()
