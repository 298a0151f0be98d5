"""``liangfa demo check``: alerts compared with planted gaps and clocks due since export."""

from __future__ import annotations

from datetime import date

from deploy.demo.check import compare_alerts

MANIFEST = {
    "gaps": [
        {"alert_kind": "LATE_ENTRY", "case_id": "a"},
        {"alert_kind": "LATE_ENTRY", "case_id": "b"},
        {"alert_kind": "UNMATCHED_FEEDBACK", "case_id": None},
        {"alert_kind": None, "case_id": None},  # a dead letter: no alert
    ],
    "pending_clocks": [
        {"alert_kind": "FILED_NOT_CONCLUDED", "case_id": "c", "due": "2026-01-10"},
        {"alert_kind": "FILED_NOT_CONCLUDED", "case_id": "d", "due": "2027-01-10"},
    ],
}


def _alert(kind: str, case: str, status: str = "RAISED") -> dict[str, str]:
    return {"kind": kind, "case_id": case, "status": status}


def test_found_missed_and_extra_per_kind() -> None:
    alerts = [_alert("LATE_ENTRY", "a", "RESOLVED"), _alert("LATE_ENTRY", "x", "RESOLVED"),
              _alert("LATE_ENTRY", "y"), _alert("FILED_NOT_CONCLUDED", "c"),
              _alert("UNMATCHED_FEEDBACK", "f")]
    rows = {row.kind: row for row in compare_alerts(alerts, MANIFEST, date(2026, 11, 21))}
    late = rows["LATE_ENTRY"]
    assert (late.hub_cases, late.hub_open, late.planted, late.found, late.missed) == (
        3, 1, 2, 1, 1)
    assert (late.extra_open, late.extra_resolved) == (1, 1)
    assert late.missed_cases == ["b"]
    assert late.extra_cases == ["x", "y"]
    concluded = rows["FILED_NOT_CONCLUDED"]
    # Only the clock due by "today" is expected; the later one is not yet.
    assert (concluded.planted, concluded.pending_now_due, concluded.found,
            concluded.missed) == (0, 1, 1, 0)
    assert rows["UNMATCHED_FEEDBACK"].planted == 1


def test_a_later_today_expects_more_clocks() -> None:
    rows = {row.kind: row for row in compare_alerts([], MANIFEST, date(2027, 2, 1))}
    assert rows["FILED_NOT_CONCLUDED"].pending_now_due == 2
    assert rows["FILED_NOT_CONCLUDED"].missed == 2


def test_a_clock_due_today_is_not_expected_until_the_day_is_over() -> None:
    manifest = {"gaps": [], "pending_clocks": [
        {"alert_kind": "FILED_NOT_CONCLUDED", "case_id": "c", "due": "2026-01-10"}]}
    assert compare_alerts([], manifest, date(2026, 1, 10)) == []
    [row] = compare_alerts([], manifest, date(2026, 1, 11))
    assert (row.pending_now_due, row.missed) == (1, 1)


def test_an_alert_resolved_in_time_is_neither_found_nor_extra() -> None:
    """The hub raised it only because it read the act after the due time (backfill order)."""
    in_time = {"kind": "LATE_ENTRY", "case_id": "a", "status": "RESOLVED",
               "details": {"late": "false"}}
    also = {"kind": "LATE_ENTRY", "case_id": "z", "status": "RESOLVED",
            "details": {"late": "false"}}
    late = {"kind": "LATE_ENTRY", "case_id": "b", "status": "RESOLVED",
            "details": {"late": "true"}}
    rows = {row.kind: row for row in compare_alerts([in_time, also, late], MANIFEST,
                                                    date(2026, 11, 21))}
    row = rows["LATE_ENTRY"]
    assert (row.hub_cases, row.found, row.missed, row.extra_resolved, row.in_time) == (
        1, 1, 1, 0, 2)
    assert row.missed_cases == ["a"]


def test_each_unanswered_act_is_counted_against_its_own_reply_clock() -> None:
    from deploy.demo.check import act_rules, compare_acts

    rules = act_rules()
    assert rules["CORRECTION_NOTICE"] == "correction-notice-unanswered"
    assert rules["URGE_PROSECUTION"] == "urge-prosecution-unanswered"
    assert rules["SUGGEST_REFERRAL"] == "suggested-referral-not-acted-on"
    manifest = {"gaps": [
        {"alert_kind": "REPLY_OVERDUE", "case_id": "c1", "detail": {"act": "CORRECTION_NOTICE"}},
        {"alert_kind": "REPLY_OVERDUE", "case_id": "c2", "detail": {"act": "URGE_PROSECUTION"}},
    ]}
    alerts = [
        {"kind": "REPLY_OVERDUE", "case_id": "c1", "status": "RAISED", "details": {},
         "rule_id": "correction-notice-unanswered"},
        # the right case, another act's clock: not a finding for this act
        {"kind": "REPLY_OVERDUE", "case_id": "c2", "status": "RAISED", "details": {},
         "rule_id": "recommendation-unanswered"},
    ]
    rows = {row.act: row for row in compare_acts(alerts, manifest)}
    assert (rows["CORRECTION_NOTICE"].found, rows["CORRECTION_NOTICE"].missed) == (1, 0)
    assert (rows["URGE_PROSECUTION"].found, rows["URGE_PROSECUTION"].missed) == (0, 1)
    assert rows["URGE_PROSECUTION"].missed_cases == ["c2"]


def test_acts_count_late_never_and_due_clocks_and_flag_extra_open_alerts() -> None:
    """Per act (manifest ``acts``): the late and the never answered must raise the act's
    own rule on their case, a clock pending at the export once it has run out (+due), and
    an open alert of that rule on a case nobody planted is an extra."""
    from deploy.demo.check import compare_acts

    manifest = {
        "acts": {
            "CONSULTATION": {"rule_id": "consultation-unanswered", "planted": 6,
                             "in_time": 2, "late": 2, "unanswered": 2, "pending": 0},
            "RAISED_JUDICIAL_RECOMMENDATION": {"rule_id": "", "planted": 0},
        },
        "gaps": [
            {"alert_kind": "CONSULTATION_OVERDUE", "case_id": c, "resolved_on": r,
             "detail": {"act": "CONSULTATION"}}
            for c, r in (("k1", "2025-11-06"), ("k2", "2025-11-07"), ("k3", None),
                         ("k4", None))],
        "pending_clocks": [
            {"alert_kind": "REPLY_OVERDUE", "case_id": "j1", "due": "2026-02-28",
             "detail": {"act": "RAISED_JUDICIAL_RECOMMENDATION"}},
            {"alert_kind": "REPLY_OVERDUE", "case_id": "j2", "due": "2027-02-28",
             "detail": {"act": "RAISED_JUDICIAL_RECOMMENDATION"}}],
    }
    resolved_late = {"status": "RESOLVED", "details": {"late": "true"}}
    alerts = [
        {"kind": "CONSULTATION_OVERDUE", "case_id": "k1", "rule_id": "consultation-unanswered",
         **resolved_late},
        {"kind": "CONSULTATION_OVERDUE", "case_id": "k3", "rule_id": "consultation-unanswered",
         "status": "RAISED", "details": {}},
        {"kind": "CONSULTATION_OVERDUE", "case_id": "zz", "rule_id": "consultation-unanswered",
         "status": "RAISED", "details": {}},
        {"kind": "REPLY_OVERDUE", "case_id": "j1", "status": "RAISED", "details": {},
         "rule_id": "raised-judicial-recommendation-unanswered"},
    ]
    rows = {row.act: row for row in compare_acts(alerts, manifest, today=date(2026, 12, 4))}
    consult = rows["CONSULTATION"]
    assert (consult.planted, consult.in_time, consult.late, consult.unanswered) == (6, 2, 2, 2)
    assert (consult.expected, consult.found, consult.missed, consult.extra_open) == (4, 2, 2, 1)
    assert consult.missed_cases == ["k2", "k4"] and consult.extra_cases == ["zz"]
    raised = rows["RAISED_JUDICIAL_RECOMMENDATION"]
    # the tally names no rule: the check's own table does (routing.yaml raised_acts)
    assert raised.rule_id == "raised-judicial-recommendation-unanswered"
    assert (raised.pending_now_due, raised.found, raised.missed, raised.extra_open) == (
        1, 1, 0, 0)
    # before the clock has run out nothing is expected of it
    early = {row.act: row for row in compare_acts(alerts, manifest, today=date(2026, 1, 1))}
    assert early["RAISED_JUDICIAL_RECOMMENDATION"].expected == 0
    assert early["RAISED_JUDICIAL_RECOMMENDATION"].extra_open == 1  # j1 raised, not due


def test_the_check_table_prints_every_act_row() -> None:
    from deploy.demo.check import ActComparison, _act_table

    table = _act_table([ActComparison(act="CONSULTATION", rule_id="consultation-unanswered",
                                      planted=6, in_time=2, late=2, unanswered=2, found=4)])
    assert "CONSULTATION" in table and "consultation-unanswered" in table
    assert table.splitlines()[-1].split()[2:7] == ["6", "2", "2", "2", "0"]


def test_a_cancellation_row_expects_no_year_alert_on_its_own_cases_only() -> None:
    """撤案 stops the filed case's year (issue #13): its row expects nothing, and an open
    filed-not-concluded alert is extra on a cancelled case, not on the cases planted as
    ordinary gaps of that kind (the per-kind table counts those)."""
    from deploy.demo.check import act_rules, compare_acts

    assert act_rules()["POLICE_CANCELLATION"] == "filed-case-not-concluded-1-year"
    assert act_rules()["PENALTY_ENFORCEMENT"] == "penalty-not-enforced"
    rule = "filed-case-not-concluded-1-year"
    manifest = {
        "acts": {"POLICE_CANCELLATION": {"rule_id": rule, "planted": 2, "in_time": 2,
                                         "case_ids": ["x1", "x2"]}},
        "gaps": [{"alert_kind": "FILED_NOT_CONCLUDED", "case_id": "g1", "detail": {}}],
    }
    open_alert = {"kind": "FILED_NOT_CONCLUDED", "status": "RAISED", "details": {},
                  "rule_id": rule}
    alerts = [{**open_alert, "case_id": "g1"}]
    [row] = compare_acts(alerts, manifest)
    assert (row.planted, row.in_time, row.expected, row.missed, row.extra_open) == (
        2, 2, 0, 0, 0)
    [row] = compare_acts([*alerts, {**open_alert, "case_id": "x2"}], manifest)
    assert (row.extra_open, row.extra_cases) == (1, ["x2"])


def test_an_act_without_a_clock_is_found_where_it_reached_its_inbox() -> None:
    """The agency's objection to a 撤案 (建议立案监督) starts no clock: its row counts the
    planted cases whose FilingSupervisionRequested reached the procuratorate's inbox."""
    from deploy.demo.check import compare_acts

    manifest = {"acts": {"CANCELLATION_OBJECTION": {
        "rule_id": "", "planted": 3, "in_time": 3, "case_ids": ["x1", "x2", "x3"],
        "inbox": "PROCURATORATE", "event_type": "FilingSupervisionRequested"}}}
    [row] = compare_acts([], manifest, delivered={"CANCELLATION_OBJECTION": {"x1", "x3",
                                                                            "other"}})
    assert (row.planted, row.expected, row.found, row.missed, row.missed_cases) == (
        3, 3, 2, 1, ["x2"])
    assert "lf.inbox.PROCURATORATE" in row.rule_id
    [row] = compare_acts([], manifest)  # nothing read: every objection missed
    assert (row.found, row.missed) == (0, 3)


def test_each_lead_destination_is_counted_on_its_own_cases_of_the_shared_feedback_rule() -> None:
    """The three leads 线索移送 share lead-feedback-overdue (issue #13, item 4): each
    destination's row finds only its own planted cases; an alert on another
    destination's case is that one's finding, not an extra."""
    from deploy.demo.check import act_rules, compare_acts

    rule = "lead-feedback-overdue"
    assert {act_rules()[act] for act in ("LEAD_SUPERVISION_COMMISSION", "LEAD_JUSTICE_BUREAU",
                                         "LEAD_PUBLIC_INTEREST_LITIGATION")} == {rule}
    manifest = {
        "acts": {"LEAD_PUBLIC_INTEREST_LITIGATION": {"rule_id": rule, "planted": 2,
                                                     "in_time": 1, "unanswered": 1},
                 "LEAD_JUSTICE_BUREAU": {"rule_id": rule, "planted": 1, "unanswered": 1}},
        "gaps": [{"alert_kind": "REPLY_OVERDUE", "case_id": "p1",
                  "detail": {"act": "LEAD_PUBLIC_INTEREST_LITIGATION"}},
                 {"alert_kind": "REPLY_OVERDUE", "case_id": "j1",
                  "detail": {"act": "LEAD_JUSTICE_BUREAU"}}],
    }
    alerts = [{"kind": "REPLY_OVERDUE", "case_id": "j1", "status": "RAISED", "details": {},
               "rule_id": rule}]
    rows = {row.act: row for row in compare_acts(alerts, manifest)}
    public = rows["LEAD_PUBLIC_INTEREST_LITIGATION"]
    assert (public.planted, public.in_time, public.unanswered) == (2, 1, 1)
    assert (public.expected, public.found, public.missed, public.extra_open) == (1, 0, 1, 0)
    assert public.missed_cases == ["p1"]
    justice = rows["LEAD_JUSTICE_BUREAU"]
    assert (justice.found, justice.missed, justice.extra_open) == (1, 0, 0)
