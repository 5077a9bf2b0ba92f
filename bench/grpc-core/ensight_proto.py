"""EnSight's protobuf messages for the bench's Python programs, generated at run time.

protoc compiles the repository's proto/ensight.proto into a private temporary directory, which
is imported and removed again: no generated code is committed, and the messages are exactly the
ones the TypeScript client speaks. Debian's protoc ships without the well-known .proto files, so
a one-line google/protobuf/empty.proto is written for it to parse; at run time the generated
module imports the protobuf runtime's own empty_pb2.
"""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

PROTO_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))
SERVICE = "ensightservice.EnSightService"
GET_IMAGE_STREAM = "/" + SERVICE + "/GetImageStream"

EMPTY_PROTO = 'syntax = "proto3";\npackage google.protobuf;\nmessage Empty {}\n'


def load():
    """Returns the generated ensight_pb2 module (ImageStreamRequest, ImageReply, ...)."""
    work = tempfile.mkdtemp(prefix="ensight-bench-proto-")
    try:
        include = os.path.join(work, "include")
        os.makedirs(os.path.join(include, "google", "protobuf"))
        with open(os.path.join(include, "google", "protobuf", "empty.proto"), "w") as f:
            f.write(EMPTY_PROTO)
        out = os.path.join(work, "out")
        os.makedirs(out)
        subprocess.run(
            ["protoc", "-I", PROTO_DIR, "-I", include, "--python_out", out, os.path.join(PROTO_DIR, "ensight.proto")],
            check=True,
        )
        sys.path.insert(0, out)
        try:
            return importlib.import_module("ensight_pb2")
        finally:
            sys.path.remove(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
