"""The EnSight emulator's Python interpreter.

One persistent process runs every RunPython command of an emulator in the same globals, so
variables persist from call to call, as in EnSight. The emulator talks to it over this
process's original stdin/stdout with length-prefixed JSON: a 4-byte big-endian byte count,
then that many bytes of UTF-8 JSON.

    request:  {"type": 0|1|2, "command": "..."}   (EXEC_NO_RESULT, EXEC_RETURN_PYTHON, EXEC_RETURN_JSON)
    reply:    {"value": "...", "error": 0|-1, "effects": [...]}

Before the first request, file descriptor 1 is pointed at stderr and stdin at /dev/null, so
anything user code prints (Python's print(), C extensions, child processes) lands on the
emulator's stderr and can never corrupt the protocol stream, which keeps private copies of the
original descriptors.

The interpreter's globals hold an `ensight` module (also importable: `import ensight`). Its
calls do not act at once: they queue effects that the emulator applies, in order, after the
command returns (also when it raised):

    ensight.render()                    re-render: one frame to every image stream and subscription
    ensight.anim.step(n=1)              advance the animation n steps, then re-render
    ensight.view_transf.rotate(x, y, z) rotate the view by x, y, z degrees, then re-render
    ensight.event(suffix)               emit the event tag <prefix><suffix> to every event listener
    ensight.frame_rate(fps)             re-render fps times a second (free running); 0 stops; "max"
    ensight.stream_size(width, height)  frame size of image streams and subscriptions
    ensight.exit(code=0)                stop the emulator once the reply is sent (PyEnSight's shutdown)

and, for Ansys' own clients (PyEnSight's Session start-up, README examples), a read-only slice
of EnSight's object API: ensight.version(key), ensight.objs.core.PARTS / VARIABLES (objects with
DESCRIPTION and a few attributes), ensight.objs.enums. The scene's names come from the emulator
in ENSIGHT_EMULATOR_SCENE (JSON: {"parts": [...], "variables": [...], "cei_home": "..."}).

SIGINT interrupts the running command with KeyboardInterrupt (the emulator sends it when the
caller cancels); between commands it is ignored, so the interpreter stays usable.
"""
import builtins
import json
import os
import signal
import struct
import sys
import traceback
import types

EXEC_NO_RESULT, EXEC_RETURN_PYTHON, EXEC_RETURN_JSON = 0, 1, 2
PYTHON_ERROR = -1

_effects = []
_busy = False


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return value


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def render():
    """Re-render now: one frame to every image stream and subscription."""
    _effects.append({"op": "render"})


def event(suffix):
    """Emit the event tag <prefix><suffix> to every event stream and subscription."""
    if not isinstance(suffix, str):
        raise TypeError(f"suffix must be a str, not {type(suffix).__name__}")
    _effects.append({"op": "event", "suffix": suffix})


def frame_rate(fps):
    """Re-render fps times a second, free running; 0 stops; "max": as fast as the image sinks take frames."""
    if fps == "max":
        _effects.append({"op": "frame_rate", "fps": "max"})
        return
    fps = _number("fps", fps)
    if fps < 0 or fps > 1000:
        raise ValueError(f"fps must be within 0..1000, got {fps}")
    _effects.append({"op": "frame_rate", "fps": fps})


def stream_size(width, height):
    """Set the frame size of image streams and image subscriptions."""
    _effects.append({"op": "stream_size", "width": _count("width", width, 4), "height": _count("height", height, 1)})


class _Anim:
    """ensight.anim: the animation."""

    def step(self, n=1):
        """Advance the animation by n steps and re-render."""
        _effects.append({"op": "anim_step", "steps": _count("n", n, 1)})


class _ViewTransform:
    """ensight.view_transf: the view."""

    def rotate(self, x, y, z):
        """Rotate the view by x, y, z degrees about the screen axes and re-render."""
        _effects.append({"op": "rotate", "x": _number("x", x), "y": _number("y", y), "z": _number("z", z)})


def exit(code=0):  # noqa: A001 - EnSight's name
    """Stop the emulator after this call's reply (EnSight's ensight.exit; PyEnSight's shutdown uses it)."""
    _effects.append({"op": "exit", "code": _count("code", code, 0) if not isinstance(code, bool) else int(code)})


_SCENE = json.loads(os.environ.get("ENSIGHT_EMULATOR_SCENE") or "{}")
_VERSIONS = {
    "product": "EnSight",
    "version": "2026 R1",
    "VERSION": "2026 R1",
    "suffix": "261",
    "CEI_HOME": _SCENE.get("cei_home", ""),
}


def version(key=None):
    """EnSight's version facts: version() is the release; version(key) for product, version, suffix, CEI_HOME."""
    if key is None:
        return _VERSIONS["version"]
    if key not in _VERSIONS:
        raise ValueError(f"unknown version key {key!r}; known: {', '.join(sorted(_VERSIONS))}")
    return _VERSIONS[key]


class _EnsObject:
    """A read-only EnSight object: attributes by name (obj.DESCRIPTION) or getattr(name)."""

    _next_id = 1000

    def __init__(self, cls, **attrs):
        _EnsObject._next_id += 1
        self.__dict__["_cls"] = cls
        self.__dict__["_attrs"] = dict(attrs, __OBJID__=_EnsObject._next_id)

    def __getattr__(self, name):
        try:
            return self.__dict__["_attrs"][name]
        except KeyError:
            raise AttributeError(f"{self._cls} has no attribute {name}") from None

    def getattr(self, name):
        return self.__getattr__(str(name))

    def getattrs(self, names=None):
        attrs = {k: v for k, v in self._attrs.items() if not k.startswith("__")}
        return attrs if names is None else {n: attrs[n] for n in names}

    def __setattr__(self, name, value):
        raise AttributeError(f"{self._cls}.{name} is read-only in the emulator")

    def __repr__(self):
        return f"Class: {self._cls}, desc: '{self._attrs['DESCRIPTION']}', CvfObjID: {self._attrs['__OBJID__']}, cached:no"


class _EnsList(list):
    """EnSight's object lists: a list with find()."""

    def find(self, value, attr="DESCRIPTION"):
        return _EnsList(o for o in self if getattr(o, str(attr), None) == value)


def _objs():
    enums = types.ModuleType("ensight.objs.enums", "Attribute names of EnSight objects.")
    for name in ("DESCRIPTION", "PARTS", "VARIABLES", "VISIBLE", "PARTNUMBER", "PARTTYPE", "COLORBYPALETTE",
                 "VARIABLE_TYPE", "LOCATION", "ENS_OBJ_TYPE"):
        setattr(enums, name, name)
    enums.PART_MODEL = 0
    enums.ENS_VAR_SCALAR = 0
    enums.ENS_VAR_ELEM = 1
    enums.ENS_VAR_NODE = 2
    core = types.SimpleNamespace()
    parts = _SCENE.get("parts") or []
    variables = _SCENE.get("variables") or []
    core.VARIABLES = _EnsList(
        _EnsObject("ENS_VAR", DESCRIPTION=name, ID=i, VARIABLE_TYPE=enums.ENS_VAR_SCALAR, LOCATION=enums.ENS_VAR_NODE)
        for i, name in enumerate(variables)
    )
    core.PARTS = _EnsList(
        _EnsObject("ENS_PART_MODEL", DESCRIPTION=name, PARTNUMBER=i + 1, ID=i + 1, VISIBLE=True,
                   PARTTYPE=enums.PART_MODEL, COLORBYPALETTE=core.VARIABLES[0] if core.VARIABLES else None)
        for i, name in enumerate(parts)
    )
    core.DESCRIPTION = "EnSight emulator"
    objs = types.ModuleType("ensight.objs", "EnSight's object API (read-only slice).")
    objs.core = core
    objs.enums = enums
    sys.modules["ensight.objs"] = objs
    sys.modules["ensight.objs.enums"] = enums
    return objs


def _facade():
    module = types.ModuleType("ensight", "The EnSight emulator's scripting facade; see the runner's docstring.")
    module.render = render
    module.event = event
    module.frame_rate = frame_rate
    module.stream_size = stream_size
    module.anim = _Anim()
    module.view_transf = _ViewTransform()
    module.exit = exit
    module.version = version
    module.objs = _objs()
    return module


def _read_exactly(stream, count):
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _run(request, user_globals):
    kind = request.get("type", EXEC_NO_RESULT)
    command = request.get("command", "")
    if kind == EXEC_NO_RESULT:
        exec(compile(command, "<ensight>", "exec"), user_globals)
        return ""
    result = eval(compile(command, "<ensight>", "eval"), user_globals)
    if kind == EXEC_RETURN_JSON:
        return json.dumps(result)
    return repr(result)


def _user_frames(tb):
    """The traceback without this runner's own frames: it starts in the user's code."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _on_sigint(_signum, _frame):
    global _busy
    if _busy:
        # Once per command: a second SIGINT must not hit the runner's own reply code.
        _busy = False
        raise KeyboardInterrupt("the RunPython call was cancelled")


def main():
    global _busy
    signal.signal(signal.SIGINT, _on_sigint)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = sys.stderr

    ensight = _facade()
    sys.modules["ensight"] = ensight
    user_globals = {"__name__": "__main__", "__builtins__": builtins, "ensight": ensight}

    while True:
        header = _read_exactly(requests, 4)
        if header is None:
            return
        body = _read_exactly(requests, struct.unpack(">I", header)[0])
        if body is None:
            return
        try:
            request = json.loads(body)
            _busy = True
            value = _run(request, user_globals)
            _busy = False
            error = 0
        except BaseException as failure:  # noqa: BLE001 - exit() and KeyboardInterrupt are the user's errors too
            _busy = False
            value = "".join(traceback.format_exception(type(failure), failure, _user_frames(failure.__traceback__)))
            error = PYTHON_ERROR
        sys.stderr.flush()
        payload = json.dumps({"value": value, "error": error, "effects": _effects}).encode("utf-8")
        _effects.clear()
        replies.write(struct.pack(">I", len(payload)) + payload)


if __name__ == "__main__":
    main()
