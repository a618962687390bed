"""Write golden JSON files whose float32 values read back exactly in Rust.

Every number is written as the shortest decimal that reads back as the same float32 through a
float64, which is how serde_json with `float_roundtrip` and an `as f32` cast read it.
"""

import json

import numpy as np


def format_number(value):
    """Return the shortest decimal that reads back as the same float32 through a float64."""
    value = np.float32(value)
    if not np.isfinite(value):
        raise ValueError(f"golden value {value} is not finite")
    text = str(value)
    if np.float32(float(text)).tobytes() != value.tobytes():
        raise ValueError(f"{text} does not read back as the float32 {value!r}")
    return text


def format_json(value, indent=0):
    """Format dicts and lists of dicts one entry a line, and each numeric array on one line."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(key)}: {format_json(item, indent + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        items = [pad + format_json(item, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    if isinstance(value, (str, int)) and not isinstance(value, np.floating):
        return json.dumps(value)
    if isinstance(value, (list, np.ndarray)) and not np.isscalar(value):
        if isinstance(value, np.ndarray) and value.ndim > 1:
            items = [pad + format_json(item, indent + 1) for item in value]
            return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
        return "[" + ", ".join(format_number(item) for item in value) + "]"
    return format_number(value)


def write_json(path, value):
    """Write `value` to `path` as golden JSON and check that it parses."""
    text = format_json(value) + "\n"
    json.loads(text)
    path.write_text(text)
    print(f"wrote {path} ({len(text)} bytes)")
