"""Posts read from concurrency: the job's parallel posts, its growth, and the posts that stop existing.

Days are numbers from 1900-01-01 (day 45_000 is 2023-03-17, a Friday); the default calendar opens
every day, so that opening days are calendar days unless a test says otherwise.
"""

from __future__ import annotations

import pandas as pd

from features.branch_agreements import STATUTORY_RULE, branch_rules, required_carence_days, rule_of
from features.job_posts import carence_successions, permanent_posts

EVERY_DAY = {"*": "1111111"}
DAY = 45_000


def ata(cid: str, start: int, end: int | None, post: str = "serveur", siret: str = "11111111100011",
        end_motif: str | None = None, idcc: str | None = "1979") -> dict:
    return {"contract_id": cid, "establishment_siret": siret, "post": post, "start_day": DAY + start,
            "end_day": None if end is None else DAY + end, "end_declared": end is not None, "end_unknown": False,
            "event": "ata", "idcc": idcc,
            "vacant_from_day": None if end is None else DAY + end + 1,
            "duration_days": None if end is None else end - start + 1, "end_motif": end_motif}


def successions(*rows: dict, memory: int = 60, masks: dict[str, str] = EVERY_DAY,
                with_declared: bool = False) -> list[tuple]:
    frame = pd.DataFrame(list(rows)).assign(first=lambda f: f["event"] != "departure")
    frame = frame.sort_values(["establishment_siret", "post", "start_day", "first", "contract_id"]).drop(columns="first")
    found = carence_successions(frame, masks, memory)
    columns = ["contract_id", "previous_contract_id", "post_no", "posts_vacant", "gap_opening_days",
               "required_opening_days"] + (["end_declared"] if with_declared else [])
    return list(found[columns].itertuples(index=False, name=None))


def test_required_carence_days():
    assert [required_carence_days(d) for d in (1, 2, 3, 13, 14, 15, 30, 540)] == [1, 1, 2, 7, 5, 5, 10, 180]
    # Métallurgie (IDCC 3248, written '3248' or with a leading zero elsewhere): a quarter, 21 calendar days at most.
    metallurgy = rule_of("3248")
    assert [required_carence_days(d, metallurgy.carence) for d in (1, 14, 40, 84, 85, 540)] == [1, 4, 10, 21, 21, 21]
    assert metallurgy.calendar_days and not metallurgy.sure
    # Propreté (IDCC 3043): no délai; a four-character IDCC with leading zeros finds its row.
    assert required_carence_days(100, rule_of("3043").carence) == 0 and rule_of("0176").idcc == "176"
    assert rule_of("1979") == rule_of(None) == STATUTORY_RULE
    assert all(rule.source_fr for rule in branch_rules().values())


def test_a_branch_agreement_sets_the_delai_and_says_so():
    # 30 days then 4 days apart: 10 opening days by law; a quarter (8 calendar days) in the métallurgie,
    # whose reading is to check; none in cleaning.
    found = carence_successions(pd.DataFrame([ata("a", 0, 29, idcc="3248"), ata("b", 34, 60, idcc="3248")]),
                                EVERY_DAY, 60)
    assert found[["required_opening_days", "gap_days", "branch_idcc", "branch_sure", "calendar_days"]].iloc[0].tolist() == [
        8, 4, "3248", False, True]
    assert carence_successions(pd.DataFrame([ata("a", 0, 29, idcc="3043"), ata("b", 34, 60, idcc="3043")]),
                               EVERY_DAY, 60).empty


def test_a_job_of_one_post_chained_without_the_waiting_period():
    # 30 days (10 days of carence), then a start 4 days later on the only post of the job.
    assert successions(ata("a", 0, 29), ata("b", 34, 60)) == [("b", "a", 1, 1, 4, 10)]
    # 10 days later: the waiting period is over.
    assert successions(ata("a", 0, 29), ata("b", 40, 60)) == []


def test_six_waiters_on_parallel_posts_each_waiting_its_own_period():
    # Six posts held at once; each post's next contract starts after its waiting period. When "a1" leaves,
    # "b1" does not take its post: "a2"'s post fell vacant 12 days earlier and is free again.
    rows = [ata(f"a{k}", 0, 29 - 12 * (k == 2)) for k in range(1, 7)]
    rows += [ata("b1", 31, 60)]
    assert successions(*rows) == []


def test_a_growing_job_has_new_posts_not_successions():
    # Two contracts run, one leaves, and two start the day after: one fills the post left (too early), the
    # other is a new post of a job that grows.
    found = successions(ata("a", 0, 29), ata("stays", 0, 90), ata("b", 31, 60), ata("c", 31, 60))
    assert found == [("b", "a", 1, 1, 1, 10)]


def test_every_vacant_post_within_its_waiting_period():
    # Two posts left the same day: the start takes the one whose waiting period is closest to its end.
    assert successions(ata("long", 0, 29), ata("short", 20, 29), ata("b", 32, 60)) == [("b", "short", 2, 2, 2, 5)]


def test_a_post_left_empty_too_long_no_longer_exists():
    # A post vacant for more than post_memory_days is gone: the start is a new post, even if the last holder
    # of that old post had a waiting period still running (540 days: 180 days of carence).
    assert successions(ata("a", 0, 539), ata("b", 601, 620), memory=60) == []
    assert successions(ata("a", 0, 539), ata("b", 601, 620), memory=90) == [("b", "a", 1, 1, 61, 180)]
    # 60 days empty: it still exists.
    assert successions(ata("a", 0, 539), ata("b", 600, 620), memory=60) == [("b", "a", 1, 1, 60, 180)]


def test_no_waiting_period_after_an_early_end_by_the_employee_and_none_while_running():
    assert successions(ata("a", 0, 29, end_motif="059"), ata("b", 31, 60)) == []
    assert successions(ata("running", 0, None), ata("b", 31, 60)) == []


def test_a_job_has_no_more_posts_than_it_held_at_once():
    # Two waiters at once in a peak (days 0-29, 10 days of carence), then contracts one at a time of 15 days
    # each (5 days of carence), each starting 2 days after the one before ends. The first fills a post of the
    # peak too early. Then, while the peak is within the post memory, its second post stays vacant and the
    # chain may alternate between the two (the reading most favourable to the employer); from day 100 the
    # peak is more than 60 days past, the job has one post, and each start fills the post just left.
    peak = [ata("peak-1", 0, 29), ata("peak-2", 0, 29)]
    chain = [ata(f"c{k}", 32 + 17 * k, 46 + 17 * k) for k in range(8)]
    found = successions(*peak, *chain)
    assert found[0] == ("c0", "peak-1", 1, 2, 2, 10)
    assert [row[0] for row in found[1:]] == ["c4", "c5", "c6", "c7"] and found[1] == ("c4", "c3", 2, 1, 2, 5)
    # Without the peak, every start after the first is a finding.
    assert len(successions(*chain)) == 7


def test_the_posts_held_at_once_count_a_holder_whose_end_is_not_known_until_its_last_month():
    # "gone" is no longer declared: its post may be vacant from day 15, but its holder may still have been there
    # until day 44, when "early" started on a new post: the job may have held three posts at once.
    gone = {**ata("gone", 0, None), "end_unknown": True, "end_declared": False, "end_day": DAY + 44,
            "vacant_from_day": DAY + 15}
    assert successions(gone, ata("a", 0, 29), ata("early", 20, 60), ata("b", 31, 60)) == []


def test_an_end_not_declared_is_a_finding_to_check_unless_a_post_is_free():
    # An end inferred (no end block), or the end of the last declared month of a contract no longer declared.
    inferred = {**ata("a", 0, 29), "end_declared": False}
    assert successions(inferred, ata("b", 31, 60), with_declared=True) == [("b", "a", 1, 1, 1, 10, False)]
    # With a post whose end was declared and whose waiting period is still running, the undeclared one is taken.
    declared = ata("c", 0, 29, post="serveur")
    assert successions(inferred, declared, ata("b", 31, 60), with_declared=True) == [("b", "a", 1, 2, 1, 10, False)]
    # A post free again beats both.
    free = ata("d", 0, 5)
    assert successions(inferred, declared, free, ata("b", 31, 60)) == []


def test_a_contract_no_longer_declared_frees_its_post_from_its_last_month_with_no_known_waiting_period():
    # Last declared in April (DAY + 15 is 01/04), its end not known yet: its post may be vacant from 01/04.
    gone = {**ata("gone", 0, None), "end_unknown": True, "end_declared": False, "end_day": DAY + 44,
            "vacant_from_day": DAY + 15}
    assert successions(gone, ata("a", 0, 29), ata("b", 31, 60)) == []
    assert successions(ata("a", 0, 29), ata("b", 31, 60)) == [("b", "a", 1, 1, 1, 10)]
    # A start in April does not take that post (its holder may still be there): a later one still can.
    assert successions(gone, ata("a", 0, 29), ata("early", 20, 60), ata("b", 31, 60)) == []


def test_a_cdi_holder_gone_leaves_a_post_the_next_contract_may_fill():
    departed = {**ata("cdi", 31, 31), "event": "departure", "end_day": DAY + 30, "vacant_from_day": DAY + 31}
    assert successions(ata("a", 0, 29), departed, ata("b", 31, 60)) == []
    assert successions(ata("a", 0, 29), ata("b", 31, 60)) == [("b", "a", 1, 1, 1, 10)]
    # A new CDI holder hired before b filled that post: b can only fill the one a left.
    hired = {**ata("new-cdi", 31, None), "event": "hire"}
    assert successions(ata("a", 0, 29), departed, hired, ata("b", 32, 60)) == [("b", "a", 1, 1, 2, 10)]


def test_opening_days_are_the_establishments_own():
    # The gap runs from Sunday 16/04 to Tuesday 18/04: 3 days, 2 of them where Sundays are closed, and the
    # establishment's own calendar (open every day) wins over the default.
    rows = (ata("a", 0, 29), ata("b", 33, 60))
    assert successions(*rows) == [("b", "a", 1, 1, 3, 10)]
    assert successions(*rows, masks={"*": "1111110"}) == [("b", "a", 1, 1, 2, 10)]
    assert successions(*rows, masks={"*": "1111110", "11111111100011": "1111111"}) == [("b", "a", 1, 1, 3, 10)]


def lasting(*rows: dict, first: int = 0, last: int = 364) -> dict[str, tuple]:
    frame = pd.DataFrame(list(rows)).assign(end_day=lambda f: f["end_day"].fillna(DAY + last).astype("int64"))
    frame = frame.sort_values(["establishment_siret", "post", "start_day", "contract_id"])
    found = permanent_posts(frame, DAY + first, DAY + last, gap_days=3, year_round_share=0.9)
    return {row.contract_id: (row.base_posts, row.base_days) for row in found.itertuples()}


def test_a_job_that_always_has_some_temps_is_not_a_lasting_job_unless_the_same_places_are_filled():
    # Always at least one contract, but the second place is filled 200 days only: one lasting post.
    rows = [ata("x1", 0, 180), ata("x2", 181, 364), ata("peak", 100, 299)]
    assert lasting(*rows) == {"x1": (1, 181), "x2": (1, 184)}
    # Contracts a few days each, with week-long breaks between them: never held all year.
    assert lasting(*[ata(f"s{k}", 10 * k, 10 * k + 2) for k in range(37)]) == {}
