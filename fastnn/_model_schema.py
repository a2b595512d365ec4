"""The schema of a model file's header, checked before anything is built.

A .safetensors file starts with a JSON header: one entry per tensor (dtype,
shape, byte offsets) and ``__metadata__``, whose ``config`` is the model's
config as a JSON string. Everything in it comes from the file, so every field
is checked here, in plain Python, for its type and its allowed keys: the
constructors then only see the keyword arguments they take, with values of
the right type, and range errors they raise name the field. JSON text is
bounded in size and nesting depth before ``json.loads`` recurses into it.

Errors are ``Invalid(where, message)``; ``fastnn.persistence`` adds the file
name and raises ``ModelFileError``.
"""

import json
import math
import re

import numpy as np

from fastnn import losses as losses_module

FORMAT = "fastnn"
FORMAT_VERSION = 1
NOT_FASTNN = "not a fastnn model file"
# A real header is a few hundred bytes per layer and nests 3 deep (config: 5).
MAX_HEADER_BYTES = 16 << 20
MAX_CONFIG_CHARS = 4 << 20
MAX_DEPTH = 32
INT_MAX = 2**63 - 1  # steps and epochs feed int64 kernel arguments
#: safetensors dtype codes of the model dtypes, and names for messages.
DTYPE_CODES = {"float32": "F32", "float64": "F64"}
DTYPE_NAMES = {
    **{code: name for name, code in DTYPE_CODES.items()},
    **{"F16": "float16", "BF16": "bfloat16", "BOOL": "bool"},
    **{f"I{b}": f"int{b}" for b in (8, 16, 32, 64)},
    **{f"U{b}": f"uint{b}" for b in (8, 16, 32, 64)},
}


class Invalid(Exception):
    """A header field that breaks the schema; ``where`` names it (or None)."""

    def __init__(self, where, message):
        super().__init__(f"{where}: {message}" if where else message)


def show(value, limit=60):
    """A short repr: values come from the file and may be huge."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def name_of(name):
    """A tensor name as is, or ``show``n when long or unprintable."""
    return name if len(name) <= 60 and name.isprintable() else show(name)


def kind(value):
    return "null" if value is None else type(value).__name__


# ------------------------------------------------------------ field checks
# Each check takes (value, where) and returns the value or raises Invalid.
def integer(low):
    def check(value, where):
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(where, f"expected an int, got {show(value)}")
        if not low <= value <= INT_MAX:
            raise Invalid(where, f"expected an int >= {low} and < 2**63, got {value}")
        return value

    return check


def real(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(where, f"expected a number, got {show(value)}")
    if (isinstance(value, int) and abs(value) > INT_MAX) or not math.isfinite(value):
        raise Invalid(where, f"must be a finite number, got {show(value)}")
    return value


def flag(value, where):
    if not isinstance(value, bool):
        raise Invalid(where, f"expected a bool, got {show(value)}")
    return value


def text(value, where):
    if not isinstance(value, str):
        raise Invalid(where, f"expected a str, got {kind(value)}")
    return value


def optional(check):
    return lambda value, where: None if value is None else check(value, where)


def choice(options):
    def check(value, where):
        if text(value, where) not in options:
            raise Invalid(where, f"unknown {show(value)}; expected one of {options}")
        return value

    return check


def list_of(check, non_empty=False):
    def check_list(value, where):
        if not isinstance(value, list):
            raise Invalid(where, f"expected a list, got {kind(value)}")
        if non_empty and not value:
            raise Invalid(where, "needs at least one entry, got an empty list")
        return [check(item, f"{where}[{i}]") for i, item in enumerate(value)]

    return check_list


def record(fields, required=(), name=None):
    """A dict with only the keys of ``fields``, each checked by its check."""

    def check(value, where):
        if not isinstance(value, dict):
            raise Invalid(where, f"expected a dict, got {kind(value)}")
        for key in value:
            if key not in fields:
                owner = f" for {name}" if name else ""
                raise Invalid(where, f"unknown key {show(key)}{owner}")
        for key in required:
            if key not in value:
                raise Invalid(where, f"missing key {key!r}")
        return {key: fields[key](item, f"{where}.{key}") for key, item in value.items()}

    check.fields, check.required = fields, required  # for the tests
    return check


def tagged(classes, fields=None, required=()):
    """``{"class": name, "config": {...}}`` where ``classes`` maps each name
    to the check of its config; ``fields`` adds keys beside those two."""
    fields = fields or {}

    def check(value, where):
        entry = record(
            {"class": text, "config": lambda v, w: v, **fields}, ("class", *required)
        )(value, where)
        if entry["class"] not in classes:
            raise Invalid(
                f"{where}.class",
                f"unknown {show(entry['class'])}; expected one of {tuple(classes)}",
            )
        entry["config"] = classes[entry["class"]](
            entry.get("config", {}), f"{where}.config"
        )
        return entry

    return check


# ------------------------------------------------------------------ config
# Keys per class are those of its get_config (a test keeps the tables in step
# with the classes); keys without a default in the constructor are required.
LAYERS = {
    "Dense": record(
        {
            "in_features": integer(1),
            "out_features": integer(1),
            "activation": optional(text),
            "init": optional(text),
            "negative_slope": real,
        },
        required=("in_features", "out_features"),
        name="Dense",
    ),
    "LeakyReLU": record({"negative_slope": real}, name="LeakyReLU"),
    "Dropout": record({"p": real}, name="Dropout"),
    **{name: record({}, name=name) for name in ("ReLU", "Sigmoid", "Tanh", "Softmax")},
}
SCHEDULES = {
    "Constant": record({}, name="Constant"),
    "StepDecay": record(
        {"step_size": integer(1), "gamma": real},
        required=("step_size",),
        name="StepDecay",
    ),
    "CosineDecay": record(
        {"total_epochs": integer(1), "eta_min": real},
        required=("total_epochs",),
        name="CosineDecay",
    ),
}
SCHEDULE = tagged(SCHEDULES)
OPTIMIZERS = {
    "SGD": record(
        {
            "lr": real,
            "momentum": real,
            "dampening": real,
            "nesterov": flag,
            "weight_decay": real,
            "schedule": SCHEDULE,
        },
        name="SGD",
    ),
    **{
        name: record(
            {
                "lr": real,
                "beta1": real,
                "beta2": real,
                "eps": real,
                "weight_decay": real,
                "schedule": SCHEDULE,
            },
            name=name,
        )
        for name in ("Adam", "AdamW")
    },
}
CONFIG = record(
    {
        "layers": list_of(tagged(LAYERS), non_empty=True),
        "dtype": choice(tuple(DTYPE_CODES)),
        "input_scale": optional(real),
        "epochs_trained": integer(0),
        "loss": choice(tuple(losses_module.LOSSES)),
        "metrics": list_of(text),
        "optimizer": tagged(
            OPTIMIZERS, {"steps": integer(0)}, required=("config", "steps")
        ),
    },
    required=("layers", "dtype"),
)

# A JSON string with its escapes; an unterminated one runs to the end (invalid
# JSON anyway). Every match succeeds where it starts, so nothing is rescanned:
# linear time whatever the text.
_STRING = re.compile(r'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def nesting(source):
    """The deepest nesting of brackets outside strings in JSON text."""
    outside = _STRING.sub("", source).encode("utf-8", "replace")
    codes = np.frombuffer(outside.translate(None, _NOT_BRACKETS), np.uint8)
    steps = ((codes == ord("[")) | (codes == ord("{"))).view(np.int8) * 2 - 1
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def parse_json(source, where):
    """``json.loads`` of text whose depth was bounded first: deep nesting
    would otherwise raise RecursionError (or exhaust the C stack)."""
    if nesting(source) > MAX_DEPTH:
        raise Invalid(where, f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(source)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge ints
        raise Invalid(where, f"not valid JSON ({show(str(exc), 100)})") from None


def parse_config(source):
    """The checked config dict of the metadata's ``config`` string."""
    if len(source) > MAX_CONFIG_CHARS:
        raise Invalid(
            "config",
            f"too large ({len(source)} characters, at most {MAX_CONFIG_CHARS})",
        )
    config = CONFIG(parse_json(source, "config"), "config")
    if "optimizer" in config and "loss" not in config:
        raise Invalid("config", "missing key 'loss' (an optimizer needs one)")
    return config


# ------------------------------------------------------------------ header
def read_header(data):
    """(metadata, tensor entries) of a safetensors byte string, each entry
    checked for form and bounds."""
    if len(data) < 8:
        raise Invalid(None, f"{NOT_FASTNN} (too short: {len(data)} bytes)")
    length = int.from_bytes(data[:8], "little")
    if length > len(data) - 8:
        raise Invalid(None, f"{NOT_FASTNN} (truncated or not safetensors)")
    if length > MAX_HEADER_BYTES:
        raise Invalid(None, f"{NOT_FASTNN} (header of {length} bytes is too large)")
    try:
        source = bytes(data[8 : 8 + length]).decode("utf-8")
        header = parse_json(source, None)
    except (UnicodeDecodeError, Invalid):
        raise Invalid(None, f"{NOT_FASTNN} (unreadable header)") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise Invalid(None, f"{NOT_FASTNN} (safetensors without fastnn metadata)")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise Invalid(key, f"expected a str in the metadata, got {kind(value)}")
    if "format_version" not in meta:
        raise Invalid(None, f"{NOT_FASTNN} (missing key 'format_version')")
    version = meta["format_version"]
    if not (version.isascii() and version.isdigit() and len(version) < 6):
        raise Invalid("format_version", f"expected a number, got {show(version)}")
    if int(version) > FORMAT_VERSION:
        raise Invalid(
            None,
            f"was written by a newer fastnn (format {version}); "
            "upgrade fastnn to load it",
        )
    if int(version) < 1:
        raise Invalid("format_version", f"unknown version {version}")
    if "config" not in meta:
        raise Invalid(None, f"{NOT_FASTNN} (missing key 'config')")
    body = len(data) - 8 - length
    entries = {}
    for name, entry in header.items():
        if name != "__metadata__":
            entries[name] = _tensor_entry(entry, f"tensor {name_of(name)}", body)
    return meta, entries


def _tensor_entry(entry, where, body):
    entry = record(
        {
            "dtype": text,
            "shape": list_of(integer(0)),
            "data_offsets": list_of(integer(0)),
        },
        required=("dtype", "shape", "data_offsets"),
    )(entry, where)
    offsets = entry["data_offsets"]
    if len(offsets) != 2 or not offsets[0] <= offsets[1]:
        raise Invalid(where, f"bad data_offsets {show(offsets)}")
    if offsets[1] > body:
        raise Invalid(
            where,
            f"data ends at byte {offsets[1]} of {body}: the file is corrupt or "
            "truncated",
        )
    return entry


def check_tensors(entries, expected, dtype):
    """Tensor entries against ``expected`` ({name: shape}) and the model's
    dtype: exactly those names, dtypes and shapes, and consistent sizes."""
    for name in entries:
        if name not in expected:
            raise Invalid(None, f"unexpected tensor {name_of(name)} in the file")
    code = DTYPE_CODES[dtype]
    itemsize = 4 if code == "F32" else 8
    for name, shape in expected.items():
        if name not in entries:
            raise Invalid(None, f"tensor {name} is missing")
        entry = entries[name]
        if entry["dtype"] != code:
            found = DTYPE_NAMES.get(entry["dtype"], show(entry["dtype"]))
            raise Invalid(
                f"tensor {name}",
                f"dtype {found} does not match the model's dtype {dtype}",
            )
        if tuple(entry["shape"]) != tuple(shape):
            raise Invalid(
                f"tensor {name}",
                f"shape {tuple(entry['shape'])}, expected {tuple(shape)}",
            )
        begin, end = entry["data_offsets"]
        if end - begin != math.prod(shape) * itemsize:
            raise Invalid(f"tensor {name}", "data size does not match its shape")
