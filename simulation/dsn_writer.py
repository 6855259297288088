"""Monthly DSN files in the NEODeS format: one file per emitter and month (split above a number of
declarations), ISO-8859-1, CRLF or LF, one declaration per establishment, written month by month so that
only one month of text is ever in memory. Contracts, people and pay come from the population; the
payroll blocks a real file also carries (contribution bases and contributions, payments to the bodies,
URSSAF bordereau, affiliations) from simulation.payroll."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulation.calendar import DateFormatter, Period, date_of
from simulation.contracts import Absence, ContractColumns
from simulation.geography import BIRTH_COUNTRY_ISO, CHEF_LIEU
from simulation.noise import CANCELLED, LATE, MISSING, REPLACED
from simulation.payroll import PayMonth, Payroll, hashed_uniform
from simulation.population import Emitter, Establishment
from simulation.random_stream import Stream
from simulation.sectors import POSTS, TEMP_WORKER_IDCC
from simulation.summary import Progress

log = logging.getLogger("simulation")

END_BLOCK_MISSING = 0.12  # share of ended contracts whose end is never declared
# Share of the contracts declared in at least two months that one month declares ended by mistake (a payroll error),
# the next month withdrawing that end by an end block of the same date and motif 099 (annulation).
END_WITHDRAWN = 0.01
END_ANNULATION = "099"
_WITHDRAWN_SALT = 0x5EED_0099  # draws of their own: the other draws of the population stay as they were
TITLE_MONTH_VARIATION = 0.01  # chance that a month spells a contract's title differently
NET_TAXABLE_RATE = 0.785
WITHHOLDING_RATE = 0.025


@dataclass
class DeclarationRecord:
    """One declaration written (a row of truth/declarations.parquet)."""

    establishment: int
    month: int
    type: str
    file: str
    declaration_id: str
    late: bool = False
    replaced: bool = False
    cancelled: bool = False


@dataclass
class WrittenDsn:
    n_files: int = 0
    n_bytes: int = 0
    declarations: list[DeclarationRecord] = field(default_factory=list)


@dataclass
class _Month:
    """The contracts in force during a month, per declaring establishment, and their payroll."""

    rows_by_est: dict[int, np.ndarray]
    pay: PayMonth


@dataclass
class _Held:
    """Declarations about month k written in the emitter's file of month k+1 (late, replacement, cancellation)."""

    establishment: int
    month: int
    kind: int  # noise status
    original: DeclarationRecord | None = None


def contract_numbers(contracts: ContractColumns, establishments: list[Establishment],
                     emitters: list[Emitter]) -> list[str]:
    """Contract numbers (S21.G00.40.009) unique within each declaring establishment, in start order, formatted
    the way each payroll software does."""
    declaring = contracts.declaring
    order = np.lexsort((np.arange(len(contracts)), contracts.start, declaring))
    rank = np.empty(len(contracts), dtype="int64")
    rank[order] = _rank_within_groups(declaring[order])
    software = {e.index: e.software[0] for e in emitters}
    style = [software[e.emitter] for e in establishments]
    numbers = []
    for est, number, start in zip(declaring.tolist(), rank.tolist(), contracts.start.tolist(), strict=True):
        if style[est] == "SOLUPAIE":
            numbers.append(f"CT{number:06d}")
        elif style[est] == "GESTRH":
            numbers.append(f"{date_of(start).year}-{number:05d}")
        else:
            numbers.append(f"{number:05d}")
    return numbers


def _rank_within_groups(sorted_groups: np.ndarray) -> np.ndarray:
    """1, 2, 3... restarting at each change of value of an already sorted array."""
    position = np.arange(len(sorted_groups))
    group_start = np.zeros(len(sorted_groups), dtype="int64")
    changes = np.flatnonzero(np.diff(sorted_groups)) + 1
    group_start[changes] = changes
    return position - np.maximum.accumulate(group_start) + 1


def _matricule_ranks(contracts: ContractColumns) -> np.ndarray:
    """Employee number of each contract's person in its declaring establishment, by order of first contract."""
    first_start: dict[tuple[int, int], int] = {}
    for key in zip(contracts.declaring.tolist(), contracts.person.tolist(), contracts.start.tolist(), strict=True):
        pair = key[:2]
        if key[2] < first_start.get(pair, key[2] + 1):
            first_start[pair] = key[2]
    rank_of: dict[tuple[int, int], int] = {}
    previous_est, counter = -1, 0
    for (est, person), _ in sorted(first_start.items(), key=lambda item: (item[0][0], item[1], item[0][1])):
        counter = counter + 1 if est == previous_est else 1
        previous_est = est
        rank_of[(est, person)] = counter
    return np.array([rank_of[pair] for pair in zip(contracts.declaring.tolist(), contracts.person.tolist(),
                                                     strict=True)], dtype="int64")


class DsnWriter:
    """Writes dsn/YYYY-MM/<emitter siret>_<YYYYMM>[_<n>].dsn for every month of the period."""

    def __init__(self, out: Path, period: Period, establishments: list[Establishment], emitters: list[Emitter],
                 contracts: ContractColumns, numbers: list[str], identities: dict[str, list[str]], sex: np.ndarray,
                 absences: list[Absence], status: np.ndarray, stream: Stream, max_per_file: int,
                 payroll_stream: Stream) -> None:
        self.out = out
        self.period = period
        self.establishments = establishments
        self.emitters = emitters
        self.contracts = contracts
        self.identities = identities
        self.sex_code = np.where(sex == 2, "02", "01")
        self.status = status
        self.stream = stream
        self.max_per_file = max_per_file
        self.fmt = DateFormatter()
        self._order_number = 0
        self.emitters_by_index = {emitter.index: emitter for emitter in emitters}
        self.written = WrittenDsn()
        self._months: dict[int, _Month] = {}
        self._prepare(numbers, absences, payroll_stream)

    # -- preparation -------------------------------------------------------------------------------
    def _prepare(self, numbers: list[str], absences: list[Absence], payroll_stream: Stream) -> None:
        c, period, fmt = self.contracts, self.period, self.fmt
        n = len(c)
        self.number = numbers
        ends_in_period = c.end <= period.last_day
        self.end_month = np.where(ends_in_period, period.month_index(np.minimum(c.end, period.last_day)), -1)
        self.first_month = np.maximum(period.month_index(c.start), 0)
        self.last_month = np.where(ends_in_period, self.end_month, period.n_months - 1)
        converted = c.conversion_day >= 0
        self.conversion_month = np.where(converted, period.month_index(np.where(converted, c.conversion_day, 0)), 10**6)
        self.version_month = np.where(c.versions >= 0, period.month_index(np.maximum(c.versions, 0)), 10**6)
        self.end_block = ends_in_period & (self.stream.rng.random(n) >= END_BLOCK_MISSING)
        siret = np.array([e.siret for e in self.establishments], dtype=object)
        idcc = np.array([e.idcc for e in self.establishments], dtype=object)
        mission = c.nature == "03"
        self.user_siret = np.where(mission, siret[c.work], "").tolist()
        self.workplace = siret[c.work].tolist()
        self.idcc = np.where(mission, TEMP_WORKER_IDCC, idcc[c.declaring]).tolist()
        self.start_text = [fmt(day) for day in c.start.tolist()]
        self.hours_text = [f"{hours:.2f}" for hours in c.hours.tolist()]
        self.time_mode = np.where(c.hours < 151.0, "20", "10").tolist()
        self.payroll = Payroll(period, self.establishments, self.emitters, c, numbers, self.conversion_month,
                               self.end_month, payroll_stream)
        self.head, self.regimes, self.tail, self.affiliation = self.payroll.contract_rubrics(self.workplace, self.idcc)
        self.wrong_end_month = self._wrong_end_months(n)
        self._birthplaces: dict[int, str] = {}
        matricule_rank = _matricule_ranks(c)
        self.matricule = [f"{r:06d}" for r in matricule_rank.tolist()]
        emitter_of = np.array([e.emitter for e in self.establishments])
        self.order = np.lexsort((c.start, matricule_rank, c.declaring, emitter_of[c.declaring]))
        self.absence_text = self._absence_blocks(absences)

    def _wrong_end_months(self, n: int) -> np.ndarray:
        """Per contract, the month whose declaration ends it by mistake (-1: none), on the month's last day: the
        next month's declaration, where the contract runs on, withdraws that end (motif 099, the same date)."""
        salt = self.payroll.salt ^ _WITHDRAWN_SALT
        keys = np.arange(n, dtype=np.int64) * 2
        chosen, when = hashed_uniform(keys, salt), hashed_uniform(keys + 1, salt)
        months_with_a_next = self.last_month - self.first_month  # the contract runs in the month after each of them
        month = self.first_month + np.floor(when * months_with_a_next).astype(np.int64)
        return np.where((chosen < END_WITHDRAWN) & (months_with_a_next >= 1), month, -1)

    def _absence_blocks(self, absences: list[Absence]) -> dict[tuple[int, int], str]:
        """S21.G00.60 text per (contract, month): declared in the month the leave starts, and again with the
        return date in the month of the return."""
        period, fmt = self.period, self.fmt
        blocks: dict[tuple[int, int], str] = {}
        for absence in absences:
            if absence.contract < 0:
                continue
            head = (f"S21.G00.60.001,'{absence.reason}'\nS21.G00.60.002,'{fmt(absence.start - 1)}'\n"
                    f"S21.G00.60.003,'{fmt(absence.planned_end)}'\n")
            back = f"S21.G00.60.010,'{fmt(absence.end + 1)}'\nS21.G00.60.011,'01'\n"
            start_month = int(period.month_index(absence.start))
            return_month = int(period.month_index(absence.end + 1)) if absence.end + 1 <= period.last_day else None
            if return_month == start_month:
                self._add_block(blocks, absence.contract, start_month, head + back)
                continue
            if 0 <= start_month < period.n_months:
                self._add_block(blocks, absence.contract, start_month, head)
            if return_month is not None and return_month >= 0:
                self._add_block(blocks, absence.contract, return_month, head + back)
        return blocks

    @staticmethod
    def _add_block(blocks: dict[tuple[int, int], str], contract: int, month: int, text: str) -> None:
        if month >= 0:
            blocks[(contract, month)] = blocks.get((contract, month), "") + text

    def presence(self) -> tuple[np.ndarray, np.ndarray]:
        """Per contract: whether some filed declaration carries it, and whether its end block was filed
        (declarations never filed hide both)."""
        declared_months = self.last_month - self.first_month + 1
        end_written = self.end_block.copy()
        for est, month in zip(*np.nonzero(self.status == MISSING), strict=True):
            own = self.contracts.declaring == est
            declared_months -= own & (self.first_month <= month) & (self.last_month >= month)
            end_written &= ~(own & (self.end_month == month))
        return declared_months > 0, end_written

    def mistaken_ends(self) -> np.ndarray:
        """Per contract, the day of the end declared by mistake and withdrawn the next month (-1: none)."""
        month = self.wrong_end_month
        return np.where(month >= 0, self.period.month_starts[np.maximum(month + 1, 0)] - 1, -1)

    # -- per month ---------------------------------------------------------------------------------
    def write(self, progress: Progress) -> WrittenDsn:
        """Write every month's files; returns what was written."""
        held: dict[int, list[_Held]] = {}
        for month in range(self.period.n_months):
            held = self._write_month(month, held)
            progress("dsn", month + 1, self.period.n_months)
        return self.written

    def _write_month(self, month: int, held_before: dict[int, list[_Held]]) -> dict[int, list[_Held]]:
        for old in [m for m in self._months if m < month - 1]:
            del self._months[old]
        rows_by_est = self._month(month).rows_by_est
        previous_rows = self._month(month - 1).rows_by_est if held_before else {}
        held_now: dict[int, list[_Held]] = {}
        folder = self.out / "dsn" / self.period.label(month)
        folder.mkdir(parents=True, exist_ok=True)
        for emitter in self.emitters:
            entries: list[tuple[str, DeclarationRecord]] = []
            for item in held_before.get(emitter.index, ()):
                entries.extend(self._held_entries(item, month, previous_rows))
            for est in emitter.establishments:
                status = self.status[est, month]
                if status == MISSING:
                    continue
                if status == LATE:
                    held_now.setdefault(emitter.index, []).append(_Held(est, month, LATE))
                    continue
                erroneous = status in (REPLACED, CANCELLED)
                text, record = self._declaration(est, month, "01", month, rows_by_est, erroneous=erroneous)
                entries.append((text, record))
                if erroneous:
                    held_now.setdefault(emitter.index, []).append(_Held(est, month, int(status), record))
            self._write_files(emitter, month, folder, entries)
        return held_now

    def _month(self, month: int) -> _Month:
        """Contracts in force during the month, in declaration order, per declaring establishment, with
        their payroll (computed once per month, kept while a late declaration may still need it)."""
        cached = self._months.get(month)
        if cached is not None:
            return cached
        order = self.order
        active = order[(self.first_month[order] <= month) & (self.last_month[order] >= month)]
        establishments = self.contracts.declaring[active]
        cuts = np.flatnonzero(np.diff(establishments)) + 1
        rows_by_est = {int(est[0]): rows for rows, est in
                       zip(np.split(active, cuts), np.split(establishments, cuts), strict=True) if len(rows)}
        self._months[month] = result = _Month(rows_by_est, self.payroll.month(month, active))
        return result

    def _held_entries(self, item: _Held, file_month: int,
                      rows_by_est: dict[int, np.ndarray]) -> list[tuple[str, DeclarationRecord]]:
        """What a held declaration becomes in the next month's file: the late declaration itself, a full
        replacement (type 03), or a cancellation (type 04) followed by a fresh declaration."""
        est, month = item.establishment, item.month
        if item.kind == LATE:
            text, record = self._declaration(est, month, "01", file_month, rows_by_est)
            record.late = True
            return [(text, record)]
        original = item.original
        assert original is not None
        if item.kind == REPLACED:
            original.replaced = True
            return [self._declaration(est, month, "03", file_month, rows_by_est, target=original.declaration_id)]
        original.cancelled = True
        return [self._declaration(est, month, "04", file_month, rows_by_est, target=original.declaration_id),
                self._declaration(est, month, "01", file_month, rows_by_est)]

    # -- one declaration ---------------------------------------------------------------------------
    def _declaration(self, est: int, month: int, kind: str, file_month: int, rows_by_est: dict[int, np.ndarray],
                     *, target: str = "", erroneous: bool = False) -> tuple[str, DeclarationRecord]:
        """Text and record of one declaration about `month`, written in the file of `file_month`.
        `erroneous` puts a payroll mistake in it (wrong hours, a mistyped title), corrected by the
        replacement or cancellation that follows."""
        e = self.establishments[est]
        self._order_number += 1
        order_number = str(self._order_number)
        file_date = self.fmt(self.period.month_start(file_month + 1) + self.emitters_by_index[e.emitter].filing_day - 1)
        year, month_number = self.period.year_month(month)
        with_headcount = self.period.year_month(file_month)[0] < 2026  # P26 dropped the headcount rubrics
        rows = rows_by_est.get(est) if kind != "04" else None
        users: list[int]
        if rows is None:
            body, headcount, users, payroll = "", 0, [], ""
            declaration_type = {"01": "02", "03": "05"}.get(kind, kind)
        else:
            pay = self._month(month).pay
            body, headcount, users = self._individuals(rows, month, erroneous, pay)
            payroll = pay.establishment_text(est, e.siret)
            declaration_type = kind
        parts = [
            f"S20.G00.05.001,'01'\nS20.G00.05.002,'{declaration_type}'\nS20.G00.05.003,'11'\n"
            f"S20.G00.05.004,'{order_number}'\nS20.G00.05.005,'01{month_number:02d}{year:04d}'\n",
            f"S20.G00.05.006,'{target}'\n" if target else "",
            f"S20.G00.05.007,'{file_date}'\nS20.G00.05.008,'01'\nS20.G00.05.010,'01'\n",
            f"S21.G00.06.001,'{e.siren}'\nS21.G00.06.002,'{e.nic_siege}'\nS21.G00.06.003,'{e.naf}'\n",
            f"S21.G00.06.009,'{e.firm_size}'\n" if with_headcount else "",
            f"S21.G00.11.001,'{e.nic}'\nS21.G00.11.002,'{e.naf}'\nS21.G00.11.003,'{e.street}'\n"
            f"S21.G00.11.004,'{e.postal_code}'\nS21.G00.11.005,'{e.city}'\n",
            f"S21.G00.11.008,'{headcount}'\n" if with_headcount and kind != "04" else "",
            f"S21.G00.11.022,'{e.idcc}'\n",
            payroll,
            body,
        ]
        for user in users:
            u = self.establishments[user]
            parts.append(f"S21.G00.85.001,'{u.siret}'\nS21.G00.85.002,'{u.naf}'\nS21.G00.85.003,'{u.street}'\n"
                         f"S21.G00.85.004,'{u.postal_code}'\nS21.G00.85.005,'{u.city}'\n")
        return "".join(parts), DeclarationRecord(est, month, declaration_type, "", file_date + order_number)

    def _individuals(self, rows: np.ndarray, month: int, erroneous: bool,
                     pay_month: PayMonth) -> tuple[str, int, list[int]]:
        """S21.G00.30 blocks with their contracts and pay; the end-of-month headcount; the user
        establishments of missions (for S21.G00.85)."""
        c, fmt = self.contracts, self.fmt
        month_last = self.period.month_end(month)
        fixed_phase = (self.conversion_month[rows] > month) & np.isin(c.nature[rows], ("02", "03"))
        pushed = (self.version_month[rows, :-1] < month) if c.versions.shape[1] > 1 else np.zeros((len(rows), 0))
        current = np.minimum(pushed.sum(axis=1), c.n_versions[rows] - 1)
        planned_end = c.versions[rows, np.maximum(current, 0)]
        nature = np.where(self.conversion_month[rows] <= month, c.nature_final[rows], c.nature[rows])
        positions = pay_month.position[rows].tolist()
        hours, gross = pay_month.hours, pay_month.gross
        titles = c.title[rows].copy()
        variation = np.flatnonzero(self.stream.rng.random(len(rows)) < TITLE_MONTH_VARIATION)
        for i in variation.tolist():
            titles[i] = self.stream.pick(POSTS[c.post[rows[i]]].spellings)
        if erroneous:
            titles[0] = titles[0][:-1] or titles[0]
        headcount = int(np.count_nonzero(c.end[rows] >= month_last))
        users = sorted(set(c.work[rows[nature == "03"]].tolist()))
        with_birthplace = self.payroll.habits[int(c.declaring[rows[0]])].birthplace
        parts: list[str] = []
        pay: list[str] = []  # S21.G00.51/53 of each contract, then 52, 54, 78 (with 79, 81) and 86
        primes: list[str] = []
        others: list[str] = []
        bases: list[str] = []
        seniority: list[str] = []
        net_total = 0.0
        person_of_previous = -1
        pay_day = fmt(month_last)
        absence_text = self.absence_text
        end_month, end_block, conversion_month = self.end_month, self.end_block, self.conversion_month
        wrong_end_month = self.wrong_end_month
        periods, extra = pay_month.periods, pay_month.subject_extra
        primes_text, others_text = pay_month.primes_text, pay_month.others_text
        bases_text, seniority_text = pay_month.bases_text, pay_month.seniority_text
        for i, row in enumerate(rows.tolist()):
            person = int(c.person[row])
            if person != person_of_previous:
                if pay:
                    parts.append(self._pay_header(pay_day, net_total))
                    parts.extend(pay + primes + others + bases + seniority)
                    pay, primes, others, bases, seniority, net_total = [], [], [], [], [], 0.0
                parts.append(self._individual(person, self.matricule[row], with_birthplace))
                person_of_previous = person
            fixed = bool(fixed_phase[i])
            lines = [
                f"S21.G00.40.001,'{self.start_text[row]}'\n{self.head[row]}S21.G00.40.006,'{titles[i]}'\n"
                f"S21.G00.40.007,'{nature[i]}'\nS21.G00.40.008,'99'\nS21.G00.40.009,'{self.number[row]}'\n"
            ]
            if fixed:
                lines.append(f"S21.G00.40.010,'{fmt(int(planned_end[i]))}'\n")
            hours_text = "35.00" if erroneous and i == 0 else self.hours_text[row]
            lines.append(
                f"S21.G00.40.011,'10'\nS21.G00.40.012,'151.67'\nS21.G00.40.013,'{hours_text}'\n"
                f"S21.G00.40.014,'{self.time_mode[row]}'\n{self.regimes[row]}"
            )
            if fixed:
                lines.append(f"S21.G00.40.021,'{c.motif[row]}'\n")
            lines.append(self.tail[row])
            if nature[i] == "03":
                lines.append(f"S21.G00.40.046,'{self.user_siret[row]}'\n")
            if conversion_month[row] == month:
                lines.append(f"S21.G00.41.001,'{fmt(int(c.conversion_day[row]))}'\nS21.G00.41.004,'{c.nature[row]}'\n"
                             f"S21.G00.41.016,'{c.motif[row]}'\n")
            absence = absence_text.get((row, month))
            if absence:
                lines.append(absence)
            wrong = int(wrong_end_month[row])
            if wrong == month:
                lines.append(f"S21.G00.62.001,'{fmt(self.period.month_end(month))}'\n"
                             f"S21.G00.62.002,'{c.end_motif[row] or '059'}'\n")
            elif wrong >= 0 and wrong == month - 1:
                lines.append(f"S21.G00.62.001,'{fmt(self.period.month_end(wrong))}'\nS21.G00.62.002,'{END_ANNULATION}'\n")
            if end_block[row] and end_month[row] == month:
                lines.append(f"S21.G00.62.001,'{fmt(int(c.end[row]))}'\nS21.G00.62.002,'{c.end_motif[row]}'\n")
            lines.append(self.affiliation[row])
            parts.append("".join(lines))
            j = positions[i]
            net_total += (gross[j] + extra[j]) * NET_TAXABLE_RATE
            first_day, last_day = periods[j]
            pay.append(
                f"S21.G00.51.001,'{first_day}'\nS21.G00.51.002,'{last_day}'\n"
                f"S21.G00.51.010,'{self.number[row]}'\nS21.G00.51.011,'010'\nS21.G00.51.012,'{hours[j]:.2f}'\n"
                f"S21.G00.51.013,'{gross[j]:.2f}'\nS21.G00.53.001,'01'\nS21.G00.53.002,'{hours[j]:.2f}'\n"
                f"S21.G00.53.003,'10'\n"
            )
            primes.append(primes_text[j])
            others.append(others_text[j])
            bases.append(bases_text[j])
            seniority.append(seniority_text[j])
        parts.append(self._pay_header(pay_day, net_total))
        parts.extend(pay + primes + others + bases + seniority)
        return "".join(parts), headcount, users

    def _individual(self, person: int, matricule: str, with_birthplace: bool) -> str:
        ids = self.identities
        nir = ids["nir"][person]
        birthplace = self._birthplace(person) if with_birthplace or not nir else ""
        return (
            (f"S21.G00.30.001,'{nir}'\n" if nir else "")
            + f"S21.G00.30.002,'{ids['surname'][person]}'\nS21.G00.30.004,'{ids['first_names'][person]}'\n"
            f"S21.G00.30.005,'{self.sex_code[person]}'\nS21.G00.30.006,'{ids['birth_date'][person]}'\n"
            f"{birthplace}S21.G00.30.019,'{matricule}'\n"
        )

    def _birthplace(self, person: int) -> str:
        """S21.G00.30.007 (commune), 014 (département, 99 abroad) and 015 (country) of a person, as its NIR
        says; people without a NIR were mostly born abroad."""
        text = self._birthplaces.get(person)
        if text is not None:
            return text
        nir = self.identities["nir"][person]
        if nir:
            place = nir[5:7]
            departement = nir[5:8] if place in ("97", "98") else place
            country = nir[7:10] if place == "99" else ""
        else:
            draw = float(hashed_uniform(np.array([person * 8 + 3]), self.payroll.salt)[0])
            countries = sorted(BIRTH_COUNTRY_ISO)
            country = countries[int(draw * len(countries))]
            departement = "99"
        if departement == "99":
            iso, city = BIRTH_COUNTRY_ISO[country]
            text = f"S21.G00.30.007,'{city}'\nS21.G00.30.014,'99'\nS21.G00.30.015,'{iso}'\n"
        else:
            text = (f"S21.G00.30.007,'{CHEF_LIEU.get(departement, 'PARIS')}'\nS21.G00.30.014,'{departement[:2]}'\n"
                    f"S21.G00.30.015,'FR'\n")
        self._birthplaces[person] = text
        return text

    @staticmethod
    def _pay_header(pay_day: str, net_taxable: float) -> str:
        return (f"S21.G00.50.001,'{pay_day}'\nS21.G00.50.002,'{net_taxable:.2f}'\n"
                f"S21.G00.50.004,'{net_taxable * (1 - WITHHOLDING_RATE):.2f}'\n")

    # -- files -------------------------------------------------------------------------------------
    def _write_files(self, emitter: Emitter, month: int, folder: Path,
                     entries: list[tuple[str, DeclarationRecord]]) -> None:
        if not entries:
            return
        year, month_number = self.period.year_month(month)
        chunks = [entries[i:i + self.max_per_file] for i in range(0, len(entries), self.max_per_file)]
        siret = emitter.siren + emitter.nic
        header = self._envoi_header(emitter, year)
        for number, chunk in enumerate(chunks, start=1):
            suffix = f"_{number}" if len(chunks) > 1 else ""
            name = f"{siret}_{year:04d}{month_number:02d}{suffix}.dsn"
            body = header + "".join(text for text, _ in chunk)
            n_lines = body.count("\n") + 2
            text = body + f"S90.G00.90.001,'{n_lines}'\nS90.G00.90.002,'{len(chunk)}'\n"
            if emitter.crlf:
                text = text.replace("\n", "\r\n")
            data = text.encode("latin-1")
            (folder / name).write_bytes(data)
            relative = f"dsn/{folder.name}/{name}"
            for _, record in chunk:
                record.file = relative
                self.written.declarations.append(record)
            self.written.n_files += 1
            self.written.n_bytes += len(data)

    @staticmethod
    def _envoi_header(emitter: Emitter, year: int) -> str:
        software, editor, version = emitter.software
        return (
            f"S10.G00.00.001,'{software}'\nS10.G00.00.002,'{editor}'\nS10.G00.00.003,'{version}'\n"
            f"S10.G00.00.005,'02'\nS10.G00.00.006,'P{year % 100:02d}V01'\nS10.G00.00.007,'01'\n"
            f"S10.G00.00.008,'01'\n"
            f"S10.G00.01.001,'{emitter.siren}'\nS10.G00.01.002,'{emitter.nic}'\nS10.G00.01.003,'{emitter.name}'\n"
            f"S10.G00.01.004,'{emitter.street}'\nS10.G00.01.005,'{emitter.postal_code}'\n"
            f"S10.G00.01.006,'{emitter.city}'\n"
            f"S10.G00.02.001,'{emitter.contact_title}'\nS10.G00.02.002,'{emitter.contact}'\n"
            f"S10.G00.02.004,'paie{emitter.index}@cabinet.invalid'\nS10.G00.02.005,'{emitter.phone}'\n"
        )
