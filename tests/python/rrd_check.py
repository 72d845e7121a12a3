"""rerun oracle: reads an .rrd file with the rerun Python SDK (the same version as the Rust
SDK that wrote it) and prints what it holds as JSON.

usage:
  rrd_check.py FILE.rrd -> {"recordings": N, "blueprints": N, "application_ids": [...],
                            "entities": {path: {"rows": temporal rows, "static_rows": N,
                                                "timelines": [...], "columns": [...],
                                                "positions": points in all rows}}}
"""

import json
import sys

from rerun.experimental import RrdReader


def main():
    path = sys.argv[1]
    reader = RrdReader(path)
    recordings = reader.recordings()
    out = {
        "recordings": len(recordings),
        "blueprints": len(reader.blueprints()),
        "application_ids": sorted({r.application_id for r in recordings}),
        "entities": {},
    }
    for store in recordings:
        for chunk in reader.stream(store=store):
            e = out["entities"].setdefault(
                chunk.entity_path,
                {"rows": 0, "static_rows": 0, "timelines": [], "columns": [],
                 "positions": 0},
            )
            if chunk.is_static:
                e["static_rows"] += chunk.num_rows
            else:
                e["rows"] += chunk.num_rows
            e["timelines"] = sorted(set(e["timelines"]) | set(chunk.timeline_names))
            batch = chunk.to_record_batch()
            names = [f.name for f in batch.schema]
            for name in names:
                if name.endswith(":positions"):
                    e["positions"] += sum(
                        len(row) for row in batch.column(name).to_pylist() if row
                    )
            e["columns"] = sorted(set(e["columns"]) | {n for n in names if ":" in n})
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
