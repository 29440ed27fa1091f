"""Write a demo CRM again the way a European spreadsheet exports it, to try the readers.

    .venv/bin/python scripts/messy_export.py data/demo /tmp/messy           # ; cp1252 day-first
    .venv/bin/python scripts/messy_export.py data/demo /tmp/clean --clean   # , UTF-8 ISO (same ids)

Both copies give every lead a numeric id (`L0000042` -> 42). The messy copy writes `;` as the
separator, Windows-1252 text (one country spelled with an accent: "Deutschland (é)"), times
day first (`13/01/2024 09:30:00`) and activity lead ids as Excel saves numbers (`42.0`). The
clean copy writes the same values as `,`-separated UTF-8 with ISO 8601 times. Training the
demo spec on either (`leadscore train --spec data/specs/demo_crm.yaml --data FOLDER`) must
give the same model: the readers detect all of it with no extra spec key.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def write_export(source: Path, out: Path, messy: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("leads", "activities", "outcomes"):
        path = source / f"{name}.parquet"
        table = pd.read_parquet(path) if path.exists() else pd.read_csv(source / f"{name}.csv", dtype=str)
        table["lead_id"] = table["lead_id"].astype(str).str.lstrip("L").astype("int64")
        if name == "leads":
            table["country"] = table["country"].astype(object).replace({"Germany": "Deutschland (é)"})
        for column in ("created_at", "occurred_at", "closed_at"):
            if column in table:
                stamps = pd.to_datetime(table[column])
                table[column] = stamps.dt.strftime("%d/%m/%Y %H:%M:%S" if messy else "%Y-%m-%dT%H:%M:%S")
        if messy and name == "activities":
            table["lead_id"] = table["lead_id"].astype(float).map(lambda v: f"{v:.1f}")
        if messy:
            table.to_csv(out / f"{name}.csv", sep=";", index=False, encoding="cp1252")
        else:
            table.to_csv(out / f"{name}.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder written by `leadscore generate`")
    parser.add_argument("out", type=Path, help="the folder to write leads.csv, activities.csv, outcomes.csv to")
    parser.add_argument("--clean", action="store_true", help="write the clean copy instead of the messy one")
    args = parser.parse_args()
    write_export(args.source, args.out, messy=not args.clean)
    print(f"wrote {'clean' if args.clean else 'messy'} export to {args.out}")


if __name__ == "__main__":
    main()
