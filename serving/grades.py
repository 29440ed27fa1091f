"""Fit, intent and the grade of scored leads, with their own reasons (features.sub_scores
defines them; this module puts them into answers and batch columns).

Each answer gets `grade` ("A1" ... "D4"; the fit letter alone without an event log), `fit`
and `intent` ({probability, grade, reasons_for, reasons_against}; intent null without an event
log). A lead matching the spec's ideal customer has "matches our ideal customer: ..." as its
first fit reason, and its ideal-customer fields are no other reason (each is said once); a not-a-fit lead's intent says its activity is not counted. Each sub-score
gives up to SUB_REASONS reasons each way (none when the request asks for no reasons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from features.ideal_customer import IdealCustomer
from features.sub_scores import SubScores
from features.transform import LeadTransform
from serving.reasons import ReasonWriter

SUB_REASONS = 3
"""Reasons for and against each sub-score gives at most (the main score gives what is asked)."""
BATCH_COLUMNS = ("grade", "fit", "fit_grade", "fit_reasons_for", "fit_reasons_against", "intent", "intent_grade",
                 "intent_reasons_for", "intent_reasons_against")


@dataclass
class Graded:
    """Sub-scores of n leads: probabilities (n,), grades (n,) and written reasons (or None)."""

    fit: np.ndarray
    fit_grade: np.ndarray
    intent: np.ndarray | None
    intent_grade: np.ndarray | None
    fit_reasons: list[tuple[list[str], list[str]]] | None
    intent_reasons: list[tuple[list[str], list[str]]] | None

    @property
    def grade(self) -> list[str]:
        if self.intent_grade is None:
            return self.fit_grade.tolist()
        return [f + i for f, i in zip(self.fit_grade.tolist(), self.intent_grade.tolist())]


class GradeWriter:
    def __init__(self, sub_scores: SubScores, transform: LeadTransform, ideal: IdealCustomer | None):
        self.sub_scores = sub_scores
        self.transform = transform
        self.ideal = ideal

    def grade(self, X: np.ndarray, leads: list[Mapping[str, Any] | None] | None, reasons: int,
              writer: ReasonWriter) -> Graded:
        """The sub-scores of transform rows X (n, features; not yet `model_input`), reasons in
        the writer's language (`reasons` > 0: up to SUB_REASONS each way)."""
        subs = self.sub_scores
        X_model = self.transform.model_input(X)
        unfit = subs.not_a_fit(X)
        limit = min(reasons, SUB_REASONS)
        fit_reasons = None
        if limit > 0:
            fit, contributions = subs.fit.probability_and_contributions(X_model)
            grouped = writer.group_contributions(contributions)
            matching = np.flatnonzero(self.ideal.matches(X)).tolist() if self.ideal is not None else []
            if matching:  # the ideal customer's fields are said once, in its own reason
                grouped[np.ix_(matching, writer.groups_of(self.ideal.columns))] = 0.0
            fit_reasons = writer.reasons_many(grouped, X, leads, limit)
            for i in matching:
                pros = fit_reasons[i][0]
                pros.insert(0, writer.ideal_customer_phrase(self.ideal.columns, X[i], leads[i] if leads else None))
                del pros[limit:]
        else:
            fit = subs.fit.probability(X_model)
        fit = subs.fit_probability(X_model, unfit, fit)
        intent = intent_grade = intent_reasons = None
        if subs.intent is not None:
            X_intent = subs.intent_input(X_model, unfit)
            if limit > 0:
                intent, contributions = subs.intent.probability_and_contributions(X_intent)
                grouped = writer.group_contributions(contributions)
                grouped[unfit] = 0.0  # its activity is not counted: the one reason is that
                intent_reasons = writer.reasons_many(grouped, X, leads, limit)
                for i in np.flatnonzero(unfit).tolist():
                    intent_reasons[i] = ([], [writer.activity_not_counted()])
            else:
                intent = subs.intent.probability(X_intent)
            intent_grade = subs.intent_grades(intent, unfit)
        return Graded(fit, subs.fit_grades(fit, unfit), intent, intent_grade, fit_reasons, intent_reasons)

    @staticmethod
    def answer_parts(graded: Graded) -> list[dict[str, Any]]:
        """Per lead, the answer's `grade`, `fit` and `intent` (see the module's docstring)."""
        def part(probability, grades, written, i, as_number: bool) -> dict[str, Any]:
            pros, cons = written[i] if written is not None else ([], [])
            grade = grades[i]
            return {"probability": round(float(probability[i]), 6), "grade": int(grade) if as_number else grade,
                    "reasons_for": pros, "reasons_against": cons}

        out = []
        for i, grade in enumerate(graded.grade):
            out.append({"grade": grade, "fit": part(graded.fit, graded.fit_grade, graded.fit_reasons, i, False),
                        "intent": None if graded.intent is None else
                        part(graded.intent, graded.intent_grade, graded.intent_reasons, i, True)})
        return out

    @staticmethod
    def columns(graded: Graded, separator: str = "; ") -> dict[str, Any]:
        """The batch file's columns (BATCH_COLUMNS): reasons joined into one text each."""
        def joined(written, side: int) -> list[str]:
            n = len(graded.fit)
            return [separator.join(w[side]) for w in written] if written is not None else [""] * n

        none = [None] * len(graded.fit)
        return {"grade": graded.grade, "fit": np.round(graded.fit, 6), "fit_grade": graded.fit_grade,
                "fit_reasons_for": joined(graded.fit_reasons, 0), "fit_reasons_against": joined(graded.fit_reasons, 1),
                "intent": np.round(graded.intent, 6) if graded.intent is not None else none,
                "intent_grade": graded.intent_grade.astype(int) if graded.intent_grade is not None else none,
                "intent_reasons_for": joined(graded.intent_reasons, 0) if graded.intent is not None else none,
                "intent_reasons_against": joined(graded.intent_reasons, 1) if graded.intent is not None else none}
