"""A PyEnSight-style peer for the bench: grpcio reading GetImageStream as EnSight's Python client does.

    /usr/bin/python3 bench/grpc-core/peer.py --address unix:/tmp/x.sock [--chunk] [--verify]

One reader thread drains the stream the way ensight_grpc.EnSightGRPC's image thread does: each
ImageReply decoded by the generated protobuf code, chunks collected until `final` and joined,
the newest frame kept. The channel lifts both message limits, as that client does, and sets
nothing else. Commands on stdin, answered with one JSON line on stdout:
  start    clear the record and start noting frames (frame number from the stamp, seen time)
  stop     {"frames": [...], "times": ["<ns>", ...], "cpu_pct": N, "verified": N, "failed": N}
  quit
With --verify every frame's stamp is checked (slow: small frames only).
"""
import argparse
import json
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
import ensight_proto  # noqa: E402
from frame_stamp import verify  # noqa: E402

OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.on = False
        self.frames = []
        self.times = []
        self.verified = 0
        self.failed = 0
        self.reasons = []
        self.error = None


def read_stream(stream, record, check):
    parts = []
    try:
        for reply in stream:
            parts.append(reply.pixels)
            if not reply.final:
                continue
            pixels = parts[0] if len(parts) == 1 else b"".join(parts)
            parts = []
            image = {"pixels": pixels, "width": reply.width, "height": reply.height}
            seen = time.monotonic_ns()
            with record.lock:
                if not record.on:
                    continue
                record.frames.append(struct.unpack_from("<I", image["pixels"], 0)[0] if len(pixels) >= 4 else 0)
                record.times.append(str(seen))
            if check:
                ok, why = verify(image["pixels"], image["width"], image["height"])
                with record.lock:
                    if ok:
                        record.verified += 1
                    else:
                        record.failed += 1
                        if len(record.reasons) < 10:
                            record.reasons.append(why)
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            record.error = str(err.code())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--chunk", action="store_true")
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    pb = ensight_proto.load()
    channel = grpc.insecure_channel(args.address, options=OPTIONS)
    get_image_stream = channel.unary_stream(
        ensight_proto.GET_IMAGE_STREAM,
        request_serializer=pb.ImageStreamRequest.SerializeToString,
        response_deserializer=pb.ImageReply.FromString,
    )
    stream = get_image_stream(pb.ImageStreamRequest(chunk=args.chunk), wait_for_ready=True)
    record = Record()
    reader = threading.Thread(target=read_stream, args=(stream, record, args.verify), daemon=True)
    reader.start()
    print(json.dumps({"ready": args.address}), flush=True)
    cpu0 = wall0 = 0.0
    for line in sys.stdin:
        command = line.strip()
        if command == "start":
            with record.lock:
                record.on = True
                record.frames, record.times = [], []
                record.verified = record.failed = 0
                record.reasons = []
            cpu0, wall0 = time.process_time(), time.monotonic()
            print(json.dumps({"ok": "start"}), flush=True)
        elif command == "stop":
            with record.lock:
                record.on = False
                wall = max(1e-9, time.monotonic() - wall0)
                answer = {
                    "frames": record.frames,
                    "times": record.times,
                    "cpu_pct": 100 * (time.process_time() - cpu0) / wall,
                    "verified": record.verified,
                    "failed": record.failed,
                    "reasons": record.reasons,
                    "error": record.error,
                }
            print(json.dumps(answer), flush=True)
        elif command == "quit":
            break
    stream.cancel()
    channel.close()


if __name__ == "__main__":
    main()
