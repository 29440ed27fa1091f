"""Cooling intent: a lead that showed a burst of high-intent activity and then none for a month.

The spec's `activities.high_intent` types (demo: pricing-page views, demo requests, form fills)
are the activities that signal buying intent. A lead is *cooling* at a moment m when, counting
only its high-intent activities strictly before m (as every activity feature does):

* it had a burst: at least BURST_COUNT of them within BURST_DAYS of one another, the burst
  ending at most LOOKBACK_DAYS before m; and
* none in the QUIET_DAYS before m.

The rule is written once, in the numba kernel `_cooling`, over one entry per activity (lead
position, type code, time in ns), the arrays the activity features are computed from
(features.activity): the API (`ActivityAggregator.cooling_records`) and batch scoring
(`cooling_arrays`, with the activities already matched to their leads) call it alike.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from features.activity import NS_PER_DAY

BURST_COUNT = 3
"""High-intent activities that make a burst. One pricing view is curiosity; three intent signals
close together (pricing, a form, a demo request) is a buyer comparing offers. It is also the
most the pages' "what would move a lead up" adds (serving.ui.next_stage)."""
BURST_DAYS = 7
"""...within this many days of one another: a week, the shortest activity window the models
count (features.activity, 7/30/90 days), the span of one buying conversation."""
QUIET_DAYS = 30
"""No high-intent activity in this many days before the moment: the issue's definition of
cooling, and the middle activity window (a lead quiet this long has lost its 30-day counts)."""
LOOKBACK_DAYS = 90
"""The burst ended at most this many days before the moment, the longest activity window: a
burst older than that says the lead went cold long ago, not that it is cooling now."""


class Cooling(NamedTuple):
    """Per lead: the size of its latest burst (0: not cooling) and the whole days since its
    last high-intent activity (meaningful where cooling)."""

    burst: np.ndarray
    quiet_days: np.ndarray


def cooling_arrays(n: int, lead_pos: np.ndarray, type_code: np.ndarray, t_ns: np.ndarray, as_of_ns: np.ndarray,
                   is_high: np.ndarray) -> Cooling:
    """Cooling of n leads from one entry per activity (lead position or -1, type code or -1,
    time in ns) and one as-of moment (ns) per lead; `is_high`: per type code, high intent."""
    lead_pos = np.asarray(lead_pos, dtype=np.int64)
    type_code = np.asarray(type_code, dtype=np.int64)
    t_ns = np.asarray(t_ns, dtype=np.int64)
    is_high = np.asarray(is_high, dtype=np.bool_)
    keep = (lead_pos >= 0) & (type_code >= 0)
    if len(is_high):
        keep &= is_high[np.where(type_code >= 0, type_code, 0)]
    else:
        keep[:] = False
    lead_pos, t_ns = lead_pos[keep], t_ns[keep]
    order = np.lexsort((t_ns, lead_pos))
    burst, quiet = _cooling(lead_pos[order], t_ns[order], np.ascontiguousarray(as_of_ns, dtype=np.int64),
                            BURST_COUNT, BURST_DAYS * NS_PER_DAY, QUIET_DAYS * NS_PER_DAY, LOOKBACK_DAYS * NS_PER_DAY)
    return Cooling(burst, quiet)


@numba.njit(cache=True, nogil=True)
def _cooling(lead_pos, t_ns, as_of_ns, burst_count, burst_ns, quiet_ns, lookback_ns):
    """The rule (module docstring), over high-intent entries sorted by lead, then time."""
    n = len(as_of_ns)
    burst = np.zeros(n, dtype=np.int64)
    quiet = np.zeros(n, dtype=np.int64)
    m = len(lead_pos)
    i = 0
    while i < m:
        lead = lead_pos[i]
        j = i
        while j < m and lead_pos[j] == lead:
            j += 1
        moment = as_of_ns[lead]
        last = j - 1  # the latest high-intent activity before the moment
        while last >= i and t_ns[last] >= moment:
            last -= 1
        if last >= i and t_ns[last] < moment - quiet_ns:
            # the latest burst: the latest end e whose BURST_DAYS window holds burst_count
            e = last
            while e >= i and t_ns[e] >= moment - lookback_ns:
                s = e
                while s - 1 >= i and t_ns[s - 1] > t_ns[e] - burst_ns:
                    s -= 1
                if e - s + 1 >= burst_count:
                    burst[lead] = e - s + 1
                    quiet[lead] = (moment - t_ns[last]) // 86_400_000_000_000
                    break
                e -= 1
        i = j
    return burst, quiet
