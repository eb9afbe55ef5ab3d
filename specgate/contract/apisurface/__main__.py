"""``python -m specgate.contract.apisurface sync|diff``: ``make api-sync`` and ``make api-diff``.

* ``sync`` writes spec/schemas/messages_request.yaml from the installed SDK and the overlay
  (``--check``: only say whether the file is up to date; exit 1 when it is not).
* ``diff`` prints every SDK request spec/ refuses, every unknown key it takes, and every
  header-borne param an operation does not declare; exit 1 when there is any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from specgate.contract import spec
from specgate.contract.apisurface.diff import gaps, header_gaps
from specgate.contract.apisurface.emit import generate, render
from specgate.contract.apisurface.sdk import header_fields

GENERATED = "schemas/messages_request.yaml"
OVERLAY = "schemas/request_overlay.yaml"


def generated_text(spec_dir: Path) -> str:
    overlay = yaml.safe_load((spec_dir / OVERLAY).read_text(encoding="utf-8")) or {}
    return render(generate(overlay, frozenset(header_fields())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specgate.contract.apisurface", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["sync", "diff"])
    parser.add_argument("--spec-dir", type=Path, default=spec.default_spec_dir())
    parser.add_argument("--check", action="store_true", help="sync: only check that the file is up to date")
    args = parser.parse_args(argv)
    spec_dir: Path = args.spec_dir
    if args.command == "sync":
        text = generated_text(spec_dir)
        target = spec_dir / GENERATED
        if args.check:
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if current != text:
                print(f"{target} is not what `make api-sync` writes from the installed SDK: run it", file=sys.stderr)
                return 1
            print(f"{target}: up to date")
            return 0
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target} ({len(text.splitlines())} lines)")
        return 0
    document = spec.bundle(spec_dir)
    headers = header_fields()
    lines = header_gaps(document, headers) + [gap.line() for gap in gaps(document, headers)]
    for line in lines:
        print(line)
    print(f"api-diff: {len(lines)} gap{'s' if len(lines) != 1 else ''} between spec/ and the installed SDK")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
