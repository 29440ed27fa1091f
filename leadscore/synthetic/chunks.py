"""A big demo CRM in chunks: `build_crm` (the one generator, its distributions unchanged) run on
`chunk_leads` leads at a time, each chunk with its own seed and its own range of lead ids, so a
10,000,000-lead CRM never has to be held in memory at once (`leadscore generate --chunk-leads`).

Every chunk is a CRM of its own over the same time window (world.EXPORT_END), so the leads of
all chunks interleave in time, as one CRM's would. Chunk 0 is drawn with `seed` itself and
chunk k with a seed derived from (seed, k): the same seed and chunk size give the same data, and
a CRM that fits in one chunk is the same, bit for bit, as `leadscore generate` without chunks.
With several chunks the data are NOT those of the unchunked generator with the same seed (its
random streams draw all leads at once): the same distributions, other draws. The won-rate
intercept is solved per chunk (truth.solve_intercept), on at least a chunk's leads: at 1,000,000
leads a chunk the chunks' won rates agree to within a tenth of a point.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from leadscore.synthetic.crm import DEFAULT_WON_RATE, CRMExport, build_crm, check_arguments


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk `chunk` of a CRM generated with `seed` (chunk 0: seed itself)."""
    if chunk == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1, dtype=np.uint32)[0])


def chunk_sizes(n_leads: int, chunk_leads: int) -> list[int]:
    """The leads of each chunk: chunk_leads each, the last one the rest."""
    full, rest = divmod(n_leads, chunk_leads)
    return [chunk_leads] * full + ([rest] if rest else [])


def build_chunks(n_leads: int, seed: int, chunk_leads: int, won_rate: float = DEFAULT_WON_RATE,
                 seasonality: float = 0.0) -> Iterator[CRMExport]:
    """The CRM's chunks one after the other (each an export of `build_crm`), lead ids running on
    from chunk to chunk. Raises DataError for arguments build_crm refuses, or a chunk size < 1."""
    from features.errors import DataError

    check_arguments(n_leads, seed, won_rate)
    if isinstance(chunk_leads, bool) or not isinstance(chunk_leads, (int, np.integer)) or chunk_leads < 1:
        raise DataError(f"--chunk-leads must be a positive number of leads, got {chunk_leads!r}; "
                        "pass for example --chunk-leads 1000000")
    first = 1
    for number, size in enumerate(chunk_sizes(n_leads, chunk_leads)):
        yield build_crm(size, chunk_seed(seed, number), won_rate, seasonality=seasonality, first_lead=first,
                        all_leads=n_leads)
        first += size
