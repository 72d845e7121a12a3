"""CDR oracle: the Python `rosbags` serializer checks our CDR bytes, and makes its own.

usage: cdr_oracle.py OURS.json OUT.json

OURS.json: [{"type": "pkg/msg/Name", "schema": "<ros2msg text>", "hex": "...", "value": {...}}]
For each entry: rosbags deserializes our bytes, re-serializes them (must give the same bytes)
and the decoded values must equal our values. Then, for each type, rosbags builds a message of
random values from its own field definitions, serializes it, and writes
[{"type", "hex", "value"}] to OUT.json for the Rust side to decode and re-encode.
"""

import json
import random
import sys

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore, get_types_from_msg

TS = get_typestore(Stores.ROS2_KILTED)

NUMPY = {
    'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8, 'uint8': np.uint8,
    'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32, 'uint32': np.uint32,
    'int64': np.int64, 'uint64': np.uint64, 'float32': np.float32, 'float64': np.float64,
}


def register(schema, name):
    types = get_types_from_msg(schema, name)
    new = {k: v for k, v in types.items() if k not in TS.fielddefs}
    if new:
        TS.register(new)


def plain(obj):
    """A message as JSON-comparable plain data."""
    if isinstance(obj, np.ndarray):
        return [plain(x) for x in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [plain(x) for x in obj]
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if hasattr(obj, '__dataclass_fields__'):
        _, fields = TS.fielddefs[obj.__msgtype__]
        return {name: plain(getattr(obj, name)) for name, _ in fields}
    return obj


def same(a, b, path):
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f'{path}: keys {list(a)} vs {list(b)}'
        for k in a:
            same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f'{path}: length {len(a)} vs {len(b)}'
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f'{path}[{i}]')
    elif isinstance(a, bool) or isinstance(b, bool):
        assert bool(a) == bool(b) and isinstance(b, (bool, int)), f'{path}: {a!r} vs {b!r}'
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        assert float(a) == float(b), f'{path}: {a!r} vs {b!r}'
    else:
        assert a == b, f'{path}: {a!r} vs {b!r}'


def rand_base(rng, typ):
    if typ == 'string':
        n = rng.randrange(0, 13)
        return ''.join(rng.choice('abcxyz_/019 ') for _ in range(n))
    if typ == 'bool':
        return rng.random() < 0.5
    if typ in ('float32', 'float64'):
        v = rng.uniform(-1e4, 1e4)
        return float(np.float32(v)) if typ == 'float32' else v
    if typ in ('byte', 'char'):
        return rng.randint(0, 127)  # rosbags packs these signed; ROS uses 0..3 for levels
    info = np.iinfo(NUMPY[typ])
    return int(rng.randint(int(info.min), int(info.max)))


def rand_value(rng, desc, ts=None):
    kind, detail = desc
    if kind == Nodetype.BASE:
        return rand_base(rng, detail[0])
    if kind == Nodetype.NAME:
        return rand_msg(rng, detail, ts)
    sub, length = detail
    n = length if kind == Nodetype.ARRAY else rng.randrange(0, 5)
    if sub[0] == Nodetype.BASE and sub[1][0] != 'string':
        return np.array([rand_base(rng, sub[1][0]) for _ in range(n)], dtype=NUMPY[sub[1][0]])
    return [rand_value(rng, sub, ts) for _ in range(n)]


def rand_msg(rng, typename, ts=None):
    """A message of random values built from the type store's own field definitions."""
    ts = ts or TS
    _, fields = ts.fielddefs[typename]
    return ts.types[typename](**{name: rand_value(rng, desc, ts) for name, desc in fields})


def main():
    ours = json.load(open(sys.argv[1]))
    out = []
    rng = random.Random(20261121)
    for entry in ours:
        typ = entry['type']
        register(entry['schema'], typ)
        raw = bytes.fromhex(entry['hex'])
        msg = TS.deserialize_cdr(raw, typ)
        again = bytes(TS.serialize_cdr(msg, typ, little_endian=True))
        assert again == raw, f'{typ}: rosbags re-serialises our bytes differently:\n{raw.hex()}\n{again.hex()}'
        same(plain(msg), entry['value'], typ)
        for _ in range(3):
            theirs = rand_msg(rng, typ)
            data = bytes(TS.serialize_cdr(theirs, typ, little_endian=True))
            out.append({'type': typ, 'hex': data.hex(), 'value': plain(theirs)})
    json.dump(out, open(sys.argv[2], 'w'))
    print(f'checked {len(ours)} of our messages, wrote {len(out)} rosbags messages')


if __name__ == '__main__':
    main()
