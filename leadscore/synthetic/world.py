"""The made-up company behind the demo CRM: what it sells, who its leads are, and how much each
trait and each activity moves the true probability of buying.

Everything here is a constant. The generator reads these tables; docs/synthetic-crm.md states
the same numbers in prose. Effects are additive contributions to the log-odds of buying.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------------------------ time
EXPORT_END = np.datetime64("2026-10-31T00:00:00", "s")
"""The moment of the export: nothing in the CRM happens after it."""
HISTORY_DAYS = 730
"""Leads were created over the two years before the export."""
VOLUME_GROWTH = 1.5
"""Lead volume grows linearly: the newest day has 1 + VOLUME_GROWTH times the leads of the oldest."""
QUALIFICATION_DAYS = 30
"""Days from a lead's creation to its qualification moment, where the truth is fixed (the demo
spec's features.evaluation_age_days: holdout figures are taken there)."""
RECENT_DAYS = 7
"""Activity in the last RECENT_DAYS before qualification counts fully; older activity counts half."""
OLDER_INTENT_WEIGHT = 0.5
CLOSE_LAG_DAYS = (1.0, 60.0)
"""A deal closes between 1 and 60 days after qualification."""
NEVER_CLOSE_SHARE = 0.05
"""Share of leads that are never closed although their time has come."""
POST_QUALIFICATION_CAP_DAYS = 60.0
"""Activity after qualification is generated for at most this many days."""

DAY = 86_400  # seconds


# ------------------------------------------------------------------------------ the profile
@dataclass(frozen=True)
class Trait:
    """A categorical profile column: its values as the company spells them, how common each
    is, and each value's effect on the log-odds of buying."""

    column: str
    values: tuple[str, ...]
    shares: tuple[float, ...]
    effects: tuple[float, ...]

    def __post_init__(self) -> None:
        assert len(self.values) == len(self.shares) == len(self.effects), self.column
        assert abs(sum(self.shares) - 1.0) < 1e-9, self.column

    def code(self, value: str) -> int:
        return self.values.index(value)


INDUSTRY = Trait(
    "industry",
    ("Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education",
     "Logistics", "Media", "Government", "Energy"),
    (0.18, 0.13, 0.12, 0.13, 0.10, 0.08, 0.08, 0.07, 0.05, 0.06),
    (0.45, 0.30, 0.15, 0.00, -0.25, -0.35, 0.05, -0.15, -0.40, 0.10),
)
COMPANY_SIZE = Trait(
    "company_size",
    ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+"),
    (0.22, 0.26, 0.22, 0.15, 0.09, 0.06),
    (-0.60, -0.15, 0.25, 0.45, 0.30, 0.10),
)
EMPLOYEE_RANGES = ((1, 10), (11, 50), (51, 200), (201, 1000), (1001, 5000), (5001, 200_000))
"""Employee counts drawn log-uniformly within each company_size band."""
COUNTRY = Trait(
    "country",
    ("United States", "United Kingdom", "Germany", "France", "Canada", "India", "Brazil",
     "Australia", "Netherlands", "Spain", "Japan"),
    (0.34, 0.10, 0.10, 0.07, 0.06, 0.10, 0.06, 0.05, 0.04, 0.04, 0.04),
    (0.15, 0.10, 0.05, -0.05, 0.10, -0.35, -0.30, 0.05, 0.10, -0.15, -0.20),
)
JOB_ROLE = Trait(
    "job_role",
    ("Marketing", "Sales", "IT", "Operations", "Finance", "Executive", "Engineering", "HR"),
    (0.24, 0.18, 0.16, 0.12, 0.08, 0.07, 0.10, 0.05),
    (0.20, 0.15, 0.30, 0.00, -0.05, 0.25, 0.05, -0.30),
)
SENIORITY = Trait(
    "seniority",
    ("Intern", "Individual Contributor", "Manager", "Director", "VP", "C-Level"),
    (0.05, 0.38, 0.27, 0.15, 0.08, 0.07),
    (-0.80, -0.30, 0.15, 0.45, 0.55, 0.35),
)
LEAD_SOURCE = Trait(
    "lead_source",
    ("Referral", "Partner", "Organic Search", "Paid Search", "Webinar", "Event", "Social",
     "Cold Outbound", "Purchased List"),
    (0.07, 0.08, 0.20, 0.20, 0.08, 0.07, 0.12, 0.08, 0.10),
    (1.00, 0.80, 0.20, 0.00, 0.35, 0.30, -0.30, -0.40, -1.20),
)
CAMPAIGN = Trait(
    "campaign",
    ("Always-On Search", "Product Launch 2025", "Webinar Series", "Partner Co-Marketing",
     "Retargeting", "Black Friday Promo", "Newsletter"),
    (0.30, 0.15, 0.12, 0.10, 0.13, 0.10, 0.10),
    (0.00, 0.30, 0.25, 0.40, -0.10, -0.50, -0.20),
)
HOME_EDITION = "Home Edition"
PRODUCT_INTEREST = Trait(
    "product_interest",
    ("Sales Cloud", "Marketing Hub", "Analytics Suite", "Service Desk", HOME_EDITION),
    (0.30, 0.27, 0.20, 0.15, 0.08),
    (0.10, 0.00, 0.20, -0.10, 0.00),
)
TRAITS = (INDUSTRY, COMPANY_SIZE, COUNTRY, JOB_ROLE, SENIORITY, LEAD_SOURCE, CAMPAIGN,
          PRODUCT_INTEREST)
"""The categorical profile columns, in the order they appear in the leads table."""

HOME_EDITION_PENALTY = 0.4
"""Log-odds taken away from a lead interested in the consumer product the company doesn't sell;
its intent term is switched off as well."""
EMAIL_OPT_IN_SHARE = 0.7

# ------------------------------------------------------------------------------------ drift
DRIFT_BASE = -0.30
"""Change in log-odds of every lead from the oldest to the newest cohort."""
DRIFT_IMPROVING_SOURCE = ("Organic Search", 0.80)
"""A source that gets better over the two years (the content team's work pays off)."""
DRIFT_DECAYING_CAMPAIGN = ("Retargeting", -0.80)
"""A campaign that wears out."""

# ------------------------------------------------------------------------------ seasonality
SEASON_PEAK_MONTH = 5
"""With --seasonality s, the log-odds of buying move by s * cos(2 pi (month - 5) / 12) with the
calendar month of creation: highest for May leads, lowest for November ones. The demo
spec's last training slice (spring) then buys more than its holdout (summer)."""
MAX_SEASONALITY = 3.0

# ------------------------------------------------------------------------------- activities
ACTIVITY_TYPES = ("email_open", "email_click", "web_visit", "pricing_view", "content_download",
                  "webinar", "form_fill", "demo_request", "unsubscribe")
UNSUBSCRIBE = ACTIVITY_TYPES.index("unsubscribe")
TIMED_TYPES = {"web_visit": 60.0, "pricing_view": 90.0}
"""Activity types whose value is the seconds spent on the page, with the median seconds."""

PRE_RATES = np.array([6.5, 1.6, 3.2, 0.7, 0.9, 0.3, 0.5, 0.12, 0.1])
"""Mean count of each activity type in the 30 days before qualification, for a lead of average
engagement."""
INTENT_EXPONENT = np.array([0.0, 0.5, 0.0, 1.0, 0.5, 0.5, 1.0, 1.0, 0.0])
"""How strongly each type follows a lead's buying propensity (0: not at all, 1: fully)."""
POST_RATES_WON = np.array([3.5, 1.2, 2.5, 1.5, 0.4, 0.5, 0.4, 0.7, 0.01])
POST_RATES_LOST = np.array([3.0, 0.5, 1.2, 0.3, 0.3, 0.15, 0.15, 0.08, 0.35])
"""Mean count of each type per 30 days after qualification, for leads that go on to be won or
lost: buyers ask for demos and study prices, the others drift away and unsubscribe."""

INTENT_WEIGHTS = np.array([0.05, 0.3, 0.15, 1.0, 0.4, 0.5, 0.8, 2.0, 0.0])
"""Weight of each activity type in the intent index I."""
INTENT_SCALE = 1.4
"""a in intent_term = a * log1p(I) - c * [unsubscribed]."""
UNSUBSCRIBE_PENALTY = 1.0
"""c in intent_term."""

ENGAGEMENT_SIGMA = 0.7
"""Spread of the latent engagement level (log scale)."""
PROPENSITY_SIGMA = 0.6
"""Spread of the latent buying propensity (log scale)."""
FIT_LOADING = 0.45
"""Correlation of each latent with the lead's fit: good-fit leads engage more."""
HOME_EDITION_ENGAGEMENT = 1.4
"""Consumers interested in the Home Edition are keen: their activity is scaled up by this."""
TIMING_TILT = (0.6, 1.2)
"""Mean and spread of each lead's timing tilt: positive means activity ramps up towards
qualification."""

# ------------------------------------------------------------------------------------- dirt
PLACEHOLDERS = ("Select", "", "N/A")
PLACEHOLDER_SHARE = {
    "industry": 0.04, "company_size": 0.03, "country": 0.03, "job_role": 0.05,
    "seniority": 0.04, "lead_source": 0.03, "campaign": 0.04, "product_interest": 0.035,
    "email_opt_in": 0.04,
}
"""Share of each column's values replaced by a placeholder (split evenly among PLACEHOLDERS)."""
CASE_SHARE = {"industry": (0.06, 0.02), "default": (0.02, 0.005)}
"""Share of values written lower-case and upper-case."""
PADDED_SHARE = 0.01
"""Share of categorical values with a stray trailing space."""
INDUSTRY_TYPOS = {
    "Healthcare": (("Helthcare", 0.02), ("Heathcare", 0.01)),
    "Manufacturing": (("Manufactoring", 0.03),),
    "Financial Services": (("Fin Services", 0.05),),
    "Software": (("Softwre", 0.015),),
    "Retail": (("Retial", 0.004),),
}
"""Misspellings of industries and their share within the industry. All but "Retial" are listed
under category_aliases.industry in data/specs/demo_crm.yaml."""
EMAIL_OPT_IN_VARIANTS = {"Yes": (("yes", 0.05), ("Y", 0.03)), "No": (("no", 0.05), ("N", 0.03))}
EMPLOYEE_COUNT_MISSING = 0.08
DUPLICATE_SHARE = 0.003
"""Share of leads exported twice as identical rows."""

SALES_RATINGS = ("hot", "warm", "cold")
SALES_RATING_GIVEN_WON = (0.70, 0.25, 0.05)
SALES_RATING_GIVEN_LOST = (0.08, 0.32, 0.60)
