"""A C-core gRPC frame server for the bench: EnSight's GetImageStream served by grpcio.

    /usr/bin/python3 bench/grpc-core/frame_server.py --address unix:/tmp/x.sock
    /usr/bin/python3 bench/grpc-core/frame_server.py --address 127.0.0.1:0   (TCP, any free port)

The bench's gRPC rows against the emulator are bounded by its grpc-js server; this one sends
with gRPC's C core, as EnSight does, so a row against it measures the client. Frames carry the
stamp of src/frame-stamp/mod.ts (clients verify them) and are sent pre-encoded (the
ImageReply wire bytes are packed in one call, pixels and all), whole or in 1,000,000 byte
chunks as the request asks (EnSight's chunk size; each chunk one ImageReply, `final` on the last).

Controlled through stdin, one command a line, each answered with one JSON line on stdout:
  size W H           frames from now on are W x H
  rate max|N|0       free-running (as fast as the client takes them), N a second, or paused
  log                the publish times since the last `log`: {"<frame number>": "<ns>", ...}
  quit
Publish time: CLOCK_MONOTONIC (time.monotonic_ns), taken as a frame is handed to gRPC, the
clock src/clock.ts reads, so latencies join with the clients' seen times.
"""
import argparse
import json
import os
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
import ensight_proto  # noqa: E402
from frame_stamp import StampedFrames  # noqa: E402

MAX_CHUNK_BYTES = 1_000_000
UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def reply_head(width, height, pixel_bytes):
    """ImageReply fields 1 (width), 2 (height), then field 4's tag and length; compression NONE is the default."""
    return b"\x08" + varint(width) + b"\x10" + varint(height) + b"\x22" + varint(pixel_bytes)


FINAL = b"\x28\x01"


class Frames:
    """A frame size's stampers: the whole ImageReply, and bare pixels for chunking."""

    def __init__(self, width, height):
        self.width = width
        self.height = height
        self.whole = StampedFrames(width, height, reply_head(width, height, width * height * 3), FINAL)
        self.pixels = StampedFrames(width, height)


class Source:
    def __init__(self):
        self.lock = threading.Condition()
        self.frames = Frames(640, 480)
        self.rate = 0.0  # frames a second; inf: free-running; 0: paused
        self.next_number = 1
        self.published = {}

    def set_size(self, width, height):
        frames = Frames(width, height)
        with self.lock:
            self.frames = frames

    def set_rate(self, rate):
        with self.lock:
            self.rate = rate
            self.lock.notify_all()

    def take_log(self):
        with self.lock:
            log, self.published = self.published, {}
        return log

    def next_frame(self, context):
        """Waits for the pace (or a resume), then returns (frame number, stamper)."""
        with self.lock:
            while self.rate == 0:
                if not context.is_active():
                    return None
                self.lock.wait(0.1)
            number = self.next_number
            self.next_number += 1
            return number, self.frames, self.rate


def serve_images(source):
    def get_image_stream(request, context):
        due = time.monotonic()
        # Chunked: the frame is stamped into this stream's own buffer, reused frame after frame,
        # and each chunk's message is one new bytes object (what gRPC is handed): fresh memory
        # costs page faults, ~10 ms a MB on a loaded VM, which a new frame object each time
        # (and a copy of it per chunk) would pay twice over.
        scratch = bytearray()
        while context.is_active():
            taken = source.next_frame(context)
            if taken is None:
                return
            number, frames, rate = taken
            if rate != float("inf"):
                due = max(due + 1.0 / rate, time.monotonic())
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            if request.chunk:
                size = frames.pixels.size
                if len(scratch) != size:
                    scratch = bytearray(size)
                frames.pixels.pack_into(scratch, number)
            else:
                wire = frames.whole.pack(number)
            now = time.monotonic_ns()
            with source.lock:
                source.published[number] = now
            if request.chunk:
                view = memoryview(scratch)
                for offset in range(0, size, MAX_CHUNK_BYTES):
                    part = view[offset:offset + MAX_CHUNK_BYTES]
                    head = reply_head(frames.width, frames.height, len(part))
                    last = offset + MAX_CHUNK_BYTES >= size
                    yield b"".join((head, part, FINAL) if last else (head, part))
            else:
                yield wire

    return get_image_stream


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", required=True, help="unix:/path.sock or host:port")
    args = parser.parse_args()
    pb = ensight_proto.load()
    source = Source()
    handler = grpc.method_handlers_generic_handler(
        ensight_proto.SERVICE,
        {
            "GetImageStream": grpc.unary_stream_rpc_method_handler(
                serve_images(source),
                request_deserializer=pb.ImageStreamRequest.FromString,
                response_serializer=lambda wire: wire,  # already ImageReply wire bytes
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[handler], options=UNLIMITED)
    port = server.add_insecure_port(args.address)
    address = args.address
    if not address.startswith("unix:"):
        if port == 0:
            raise SystemExit("frame_server: cannot listen on " + address)
        # Port 0 asks for any free port: the answer names the one bound.
        address = address.rsplit(":", 1)[0] + ":" + str(port)
    server.start()
    print(json.dumps({"ready": address}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "size":
            source.set_size(int(words[1]), int(words[2]))
            answer = {"ok": "size"}
        elif words[0] == "rate":
            source.set_rate(float("inf") if words[1] == "max" else float(words[1]))
            answer = {"ok": "rate"}
        elif words[0] == "log":
            answer = {str(k): str(v) for k, v in source.take_log().items()}
        elif words[0] == "quit":
            break
        else:
            answer = {"error": "unknown command " + words[0]}
        print(json.dumps(answer), flush=True)
    source.set_rate(0)
    server.stop(0.5).wait()


if __name__ == "__main__":
    main()
