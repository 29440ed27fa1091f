"""Segment models inside a model bundle (the spec's `segment_by`): one full bundle per segment
that training kept, under the global bundle's folder, and what training found for every
segment, kept or not.

    segments.json        the column, and per segment: its cleaned value, its folder (when its
                         model is used), its counts and holdout figures, and why it falls back
                         to the global model when it does
    segments/<n>/        a complete model bundle (features.bundle) per segment model used

A bundle without segments.json has no segments and loads as before. Serving reads this file,
never training code (serving.segments routes each lead to its segment's model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEGMENTS_FILE = "segments.json"
SEGMENTS_DIR = "segments"
SEGMENTS_FORMAT = 1


@dataclass
class SegmentModels:
    """The segment column, the models of the segments that have one (cleaned value -> bundle),
    and per segment what training found (`figures`: a list of dicts, kept or fallen back,
    each with `value`, `used`, `note` and its counts and figures) and general `notes` (values
    scored by the global model besides the segments that fell back)."""

    column: str
    models: dict[str, Any]  # cleaned value -> features.bundle.ModelBundle
    figures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def save_into(self, folder: Path) -> None:
        """Write the segment bundles and segments.json into `folder` (the global bundle's folder
        being written, before it is moved into place)."""
        folders: dict[str, str] = {}
        for number, (value, bundle) in enumerate(self.models.items()):
            relative = f"{SEGMENTS_DIR}/{number}"
            bundle.save(folder / relative)
            folders[value] = relative
        entries = [{**entry, "folder": folders.get(entry["value"])} for entry in self.figures]
        listed = {entry["value"] for entry in entries}
        entries += [{"value": value, "used": True, "folder": relative} for value, relative in folders.items()
                    if value not in listed]
        (folder / SEGMENTS_FILE).write_text(json.dumps(
            {"format": SEGMENTS_FORMAT, "column": self.column, "segments": entries, "notes": self.notes},
            indent=1, default=_plain))

    @classmethod
    def load_from(cls, folder: Path) -> "SegmentModels | None":
        """The segments of the bundle at `folder`, None when it has none (segments.json absent)."""
        from features.bundle import BundleError, ModelBundle

        path = Path(folder) / SEGMENTS_FILE
        if not path.is_file():
            return None
        try:
            meta = json.loads(path.read_text())
            if meta.get("format") != SEGMENTS_FORMAT:
                raise BundleError(f"{path}: segments format {meta.get('format')} is not {SEGMENTS_FORMAT}; "
                                  "re-export the bundle")
            column = str(meta["column"])
            entries = list(meta["segments"])
            models = {str(e["value"]): ModelBundle.load(Path(folder) / e["folder"])
                      for e in entries if e.get("used") and e.get("folder")}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{path}: the segment models are damaged ({exc}); re-export the bundle") from None
        return cls(column, models, entries, list(meta.get("notes", [])))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
