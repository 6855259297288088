"""From a parsed declaration to warehouse rows (tuples in the column order of STAGED_SCHEMAS).

Personal identifiers are replaced here by their pseudonym; nothing else of the individual block
is kept. Implausible values (a contract ending or planned to end before it starts) are dropped with
a warning in `RecordBuilder.issues`, and so is the effect of an end block with no valid date (staged with
its motif, it ends nothing); a declared month after the month of the run cannot be placed in time and
quarantines its declaration.
"""

from __future__ import annotations

from datetime import date, timedelta

from warehouse.dsn.norm import load_norm
from warehouse.dsn.parser import (
    ABSENCE,
    ACTIVITY,
    CHANGE,
    CONTRACT,
    CONTRACT_END,
    DECLARATION,
    EMITTER,
    ENTERPRISE,
    ENVOI,
    ESTABLISHMENT,
    INDIVIDUAL,
    REMUNERATION,
    SUSPENSION,
    TOTAL,
    WORKPLACE,
    Block,
    Declaration,
    Issue,
    describe_value,
)
from warehouse.posts import MASKED, mask_identifiers, normalise_post
from warehouse.pseudonym import Pseudonymiser

MONTHLY_NATURE = "01"
# The fields of each kept block that the rows are read from (with the S90 totals the parser checks).
# A line of another field is never read: the tokeniser may leave it out (warehouse.dsn.tokens).
READ_FIELDS: dict[str, frozenset[str]] = {
    block: frozenset(fields.split())
    for block, fields in {
        ENVOI: "001 006",
        EMITTER: "001 002",
        DECLARATION: "001 002 003 004 005 006 007",
        ENTERPRISE: "001 003",
        ESTABLISHMENT: "001 002 003 004 005 008 022",
        INDIVIDUAL: "001 002 004 006 019",
        CONTRACT: "001 004 006 007 009 010 011 012 013 014 017 019 021 046",
        CHANGE: "001 004 012 014 016 021",
        ABSENCE: "001 002 003 010",
        SUSPENSION: "001 002 003",
        CONTRACT_END: "001 002",
        REMUNERATION: "010 011 012",
        ACTIVITY: "001 002 003",
        WORKPLACE: "001 002 003 004 005 010",
        TOTAL: "001 002",
    }.items()
}
# The enumerated rubrics whose code is checked against the norm's (`RecordBuilder._code`), with what an unknown code does.
CHECKED_CODES = {
    "S21.G00.40.007": " (the contract counts as none of CDI, CDD or mission)",
    "S21.G00.40.021": " (the contract has none of the motifs the rules check)",
    "S21.G00.40.014": " (its hours are read from the contract, as not full time)",
    "S21.G00.62.002": " (the end is not one that exempts from a waiting period)",
    "S21.G00.60.001": "",
    "S21.G00.65.001": "",
}
# Natures of a workplace (S21.G00.85.010) whose address is a person's home: at home, private employer.
PRIVATE_WORKPLACES = ("03", "05")
ONE_DAY = timedelta(days=1)


def declaration_id(header: Block) -> str | None:
    """The identifier a later declaration uses (in S20.G00.05.006) to replace or cancel this one:
    the file constitution date (.007, DDMMYYYY) followed by the declaration's order number (.004)."""
    created, order = header.get("007"), header.text("004")
    if not isinstance(created, date) or not order:
        return None
    return created.strftime("%d%m%Y") + order


class RecordBuilder:
    """Turns declarations into rows for each staged table, pseudonymising people on the way."""

    def __init__(self, pseudonymiser: Pseudonymiser, source_sha256: str, source_file: str, run_month: date) -> None:
        """`run_month`: the first day of the month the run happens in; later declared months are refused."""
        self.pseudonymiser = pseudonymiser
        self.sha = source_sha256
        self.file = source_file
        self.run_month = run_month
        self.issues: list[Issue] = []
        self.codes = {rubric: load_norm().codes[rubric] for rubric in CHECKED_CODES}

    def _implausible(self, line: int, reason: str) -> None:
        self.issues.append(Issue(self.file, line, "warning", "implausible_value", reason))

    def _code(self, line: int, rubric: str, value: object) -> None:
        """A warning when `value` of the enumerated `rubric` is not one of the norm's codes: kept as declared (a later
        norm may define it), it is read as no code the rules and indicators know."""
        if value and value not in self.codes[rubric]:
            # Three digits at most say nothing of a person; anything else (a NIR in the wrong field) is only described.
            shown = f"« {value} »" if isinstance(value, str) and value.isdigit() and len(value) <= 3 else (
                f"a value of {describe_value(value)}")
            self._implausible(line, f"{rubric}: {shown} is not a code of the norm (CT2024) for this rubric; kept as "
                              f"declared, read as none of the codes the features know{CHECKED_CODES[rubric]}")

    def key(self, declaration: Declaration) -> str:
        return f"{self.sha[:20]}:{declaration.index}"

    def header_row(self, declaration: Declaration, n_individuals: int, n_contracts: int) -> tuple:
        """The `declarations` row; validity is checked separately by `check_monthly`."""
        header = declaration.header
        enterprise = declaration.enterprise
        establishment = declaration.establishment
        envoi = declaration.envoi
        emitter = declaration.emitter
        siren = enterprise.text("001") if enterprise else None
        nic = establishment.text("001") if establishment else None
        month = header.get("005")
        created = header.get("007")
        emitter_siret = None
        if emitter is not None and emitter.text("001"):
            emitter_siret = (emitter.text("001") or "") + (emitter.text("002") or "")
        return (
            self.key(declaration), self.sha, self.file, declaration.index, declaration.line_start,
            declaration.line_end, declaration_id(header), header.text("001"), header.text("002"),
            header.text("003"), header.text("004"), month if isinstance(month, date) else None,
            header.text("006"), created if isinstance(created, date) else None,
            siren, nic, (siren + nic) if siren and nic else None,
            establishment.text("002") if establishment else None,
            enterprise.text("003") if enterprise else None,
            *_address(establishment),
            establishment.text("022") if establishment else None,
            establishment.get("008") if establishment else None,
            envoi.text("006") if envoi else None, envoi.text("001") if envoi else None, emitter_siret,
            n_individuals, n_contracts,
        )

    def monthly_rows(self, declaration: Declaration) -> dict[str, list[tuple]]:
        """Rows of every staged table except `declarations`; problems found are added to the
        declaration (which is then quarantined rather than partly kept)."""
        header = declaration.header
        month = header.get("005")
        siren = declaration.enterprise.text("001") if declaration.enterprise else None
        nic = declaration.establishment.text("001") if declaration.establishment else None
        siret = siren + nic if siren and nic else None
        key = self.key(declaration)
        problems = declaration.problems
        if not isinstance(month, date) or month.day != 1:
            problems.append(f"line {header.line}: declared month S20.G00.05.005 missing or invalid")
        elif month > self.run_month:
            problems.append(f"line {header.line}: declared month {month:%Y-%m} (S20.G00.05.005) is after the month "
                            f"of the run ({self.run_month:%Y-%m})")
        if not siret or len(siret) != 14 or not (siret.isascii() and siret.isdigit()):
            problems.append(f"line {header.line}: SIRET missing or invalid (S21.G00.06.001 + S21.G00.11.001)")
        rows: dict[str, list[tuple]] = {
            "person_months": [], "contract_months": [], "absences": [], "contract_ends": [],
            "contract_changes": [], "workplaces": [],
        }
        if problems:
            return rows
        # Both were checked above (a problem otherwise).
        assert isinstance(month, date) and siret is not None
        for individual in declaration.individuals:
            identity = self.pseudonymiser.person(
                individual.text("001"), individual.text("002"), individual.text("004"), individual.text("006")
            )
            if identity is None:
                identity = self._by_matricule(siren, individual)
            if identity is None:
                problems.append(f"line {individual.line}: individual with no NIR, no identity and no matricule")
                continue
            person, identified_by = identity
            rows["person_months"].append((key, month, siret, person, identified_by))
            self._contracts(individual, key, month, siret, person, rows, problems)
        for place in declaration.workplaces:
            rows["workplaces"].append((key, month, siret, place.text("001"), place.text("002"), *_workplace_address(place)))
        return rows

    def _by_matricule(self, siren: str | None, individual: Block) -> tuple[str, str] | None:
        matricule = individual.text("019")
        if not matricule or not siren:
            return None
        return self.pseudonymiser.by_matricule(siren, matricule)

    def _contracts(
        self, individual: Block, key: str, month: date, siret: str, person: str,
        rows: dict[str, list[tuple]], problems: list[str],
    ) -> None:
        # Hot path: field values are read straight from the dicts. Converted rubrics hold their
        # typed value or are absent (the parser drops a value it cannot convert), so an isinstance
        # test is a test of presence; `or None` maps an empty text to None.
        hours = _hours_by_contract(individual)
        contract_months = rows["contract_months"]
        for contract in individual.children:
            if contract.code != CONTRACT:
                continue
            f: dict = contract.fields  # typed: Cython calls the dict's get directly
            start = f.get("001")
            number = f.get("009") or None
            if not isinstance(start, date) or not isinstance(number, str):
                problems.append(
                    f"line {contract.line}: contract without a valid start date (40.001) or number (40.009)"
                )
                continue
            self._code(contract.line, "S21.G00.40.007", f.get("007"))
            self._code(contract.line, "S21.G00.40.021", f.get("021"))
            self._code(contract.line, "S21.G00.40.014", f.get("014"))
            title = mask_identifiers(f.get("006")) or None
            if title is not None and title != f.get("006"):
                self._implausible(contract.line, "S21.G00.40.006: job title holding digits that may identify a person "
                                  f"or a date (six or more in a row), each run stored as « {MASKED} »")
            planned_end = f.get("010")
            if isinstance(planned_end, date) and planned_end < start:
                self._implausible(contract.line, "S21.G00.40.010: planned end before the contract's start (40.001); ignored")
                planned_end = None
            contract_months.append(
                (
                    key, month, siret, person, number, start, f.get("007") or None, f.get("021") or None,
                    title, normalise_post(title), _pcs(f.get("004")), planned_end, f.get("011") or None,
                    f.get("012"), f.get("013"),
                    f.get("014") or None, f.get("017") or None, f.get("019") or None, f.get("046") or None,
                    hours.get(number), contract.line,
                )
            )
            for child in contract.children:
                c: dict = child.fields
                if child.code == CONTRACT_END:
                    end = c.get("001")
                    if not isinstance(end, date):
                        self.issues.append(Issue(self.file, child.line, "warning", "missing_value",
                                                 "S21.G00.62.001: contract end block without a valid date (missing or "
                                                 "unreadable): it neither ends the contract nor, as an annulation (099), "
                                                 "withdraws an end"))
                    elif end < start:
                        self._implausible(child.line, "S21.G00.62.001: contract end before the contract's start (40.001); "
                                                      "end block ignored")
                        continue
                    self._code(child.line, "S21.G00.62.002", c.get("002"))
                    rows["contract_ends"].append((key, month, siret, person, number, start, c.get("001"), c.get("002") or None))
                elif child.code == ABSENCE:
                    self._code(child.line, "S21.G00.60.001", c.get("001"))
                    last_day, planned, back = c.get("002"), c.get("003"), c.get("010")
                    rows["absences"].append(
                        (
                            key, month, siret, person, number, start, "arret", c.get("001") or None,
                            last_day + ONE_DAY if isinstance(last_day, date) else None,
                            back - ONE_DAY if isinstance(back, date) else planned,
                            last_day, planned, back,
                        )
                    )
                elif child.code == SUSPENSION:
                    self._code(child.line, "S21.G00.65.001", c.get("001"))
                    rows["absences"].append(
                        (
                            key, month, siret, person, number, start, "suspension", c.get("001") or None,
                            c.get("002"), c.get("003"), None, None, None,
                        )
                    )
                elif child.code == CHANGE:
                    rows["contract_changes"].append(
                        (
                            key, month, siret, person, number, start, c.get("001"), c.get("004") or None,
                            c.get("016") or None, c.get("014") or None, c.get("021"), c.get("012") or None,
                        )
                    )


def _hours_by_contract(individual: Block) -> dict[str, float]:
    """Paid hours per contract number: activity blocks (53: type 01, unit 10 = hours) under each
    remuneration (51) linked by 51.010; the remuneration's own hours (51.012) when it has none."""
    hours: dict[str, float] = {}
    for remuneration in individual.children:
        if remuneration.code != REMUNERATION:
            continue
        r: dict = remuneration.fields
        number = r.get("010")
        if not isinstance(number, str) or not number:
            continue
        # Hours rubrics (53.002, 51.012) hold a float when present.
        activity_hours = [
            paid for a in remuneration.children
            if a.code == ACTIVITY and isinstance(paid := a.fields.get("002"), float)
            and a.fields.get("001") == "01" and a.fields.get("003") == "10"
        ]
        own_hours = r.get("012")
        if activity_hours:
            hours[number] = hours.get(number, 0.0) + sum(activity_hours)
        elif isinstance(own_hours, float) and r.get("011") == "002":
            hours[number] = hours.get(number, 0.0) + own_hours
    return hours


def _address(block: Block | None) -> tuple[str | None, str | None, str | None]:
    """(street, postal code, city) of an establishment block (S21.G00.11): rubrics .003 to .005."""
    if block is None:
        return None, None, None
    return block.text("003"), block.text("004"), block.text("005")


def _workplace_address(place: Block) -> tuple[str | None, str | None, str | None]:
    """(street, postal code, city) of a workplace or user establishment (S21.G00.85.003 to .005). A person's
    home is personal data: work at home (.010 = 03) and a private employer (05) keep the postal code only.
    Nothing else of the block is kept (a private employer's name and birth date are in .012 to .017)."""
    street, postal_code, city = _address(place)
    if place.text("010") in PRIVATE_WORKPLACES:
        return None, postal_code, None
    return street, postal_code, city


def _pcs(code: object) -> str | None:
    """The PCS-ESE occupation code (40.004) in lower case ('561A' -> '561a'), None when absent."""
    return code.strip().lower() or None if isinstance(code, str) else None
