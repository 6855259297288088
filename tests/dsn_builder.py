"""Write small DSN files by hand for tests: each helper returns rubric lines in norm order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Line = tuple[str, str]


def dsn_date(iso: str) -> str:
    """'2025-03-14' -> '14032025'."""
    year, month, day = iso.split("-")
    return f"{day}{month}{year}"


@dataclass
class Contract:
    number: str
    start: str  # ISO date
    nature: str = "02"
    motif: str | None = "02"
    title: str = "Serveur"
    planned_end: str | None = None
    user_siret: str | None = None
    end: tuple[str, str] | None = None  # (ISO end date, motif de rupture)
    more_ends: tuple[tuple[str, str], ...] = ()  # further end blocks after `end` (a payroll software's error)
    change: dict[str, str] | None = None  # field number -> old value (41.001 is the change date)
    absence: tuple[str, str, str] | None = None  # (reason, last day worked, planned end)
    hours: str = "151.67"
    pcs: str | None = None  # PCS-ESE code (40.004)

    def lines(self) -> list[Line]:
        out: list[Line] = [("S21.G00.40.001", dsn_date(self.start))]
        if self.pcs:
            out.append(("S21.G00.40.004", self.pcs))
        out += [
            ("S21.G00.40.006", self.title),
            ("S21.G00.40.007", self.nature),
            ("S21.G00.40.009", self.number),
        ]
        if self.planned_end:
            out.append(("S21.G00.40.010", dsn_date(self.planned_end)))
        out += [("S21.G00.40.011", "10"), ("S21.G00.40.012", "151.67"), ("S21.G00.40.013", self.hours), ("S21.G00.40.014", "10")]
        if self.motif:
            out.append(("S21.G00.40.021", self.motif))
        if self.user_siret:
            out.append(("S21.G00.40.046", self.user_siret))
        if self.change:
            out += [(f"S21.G00.41.{k}", v) for k, v in sorted(self.change.items())]
        if self.absence:
            reason, last_day, planned = self.absence
            out += [("S21.G00.60.001", reason), ("S21.G00.60.002", dsn_date(last_day)), ("S21.G00.60.003", dsn_date(planned))]
        for end_date, end_motif in ([self.end] if self.end else []) + list(self.more_ends):
            out += [("S21.G00.62.001", dsn_date(end_date)), ("S21.G00.62.002", end_motif)]
        return out


@dataclass
class Individual:
    nir: str | None = "180017512345678"[:13]
    surname: str = "MARTIN"
    first_names: str = "Paul"
    birth: str = "01011980"
    contracts: list[Contract] = field(default_factory=list)

    def lines(self) -> list[Line]:
        out: list[Line] = []
        if self.nir:
            out.append(("S21.G00.30.001", self.nir))
        out += [("S21.G00.30.002", self.surname), ("S21.G00.30.004", self.first_names), ("S21.G00.30.006", self.birth)]
        for contract in self.contracts:
            out += contract.lines()
        for contract in self.contracts:
            out += [
                ("S21.G00.50.001", "05022025"), ("S21.G00.50.002", "1500.00"), ("S21.G00.50.004", "1500.00"),
                ("S21.G00.51.001", "01012025"), ("S21.G00.51.002", "31012025"), ("S21.G00.51.010", contract.number),
                ("S21.G00.51.011", "002"), ("S21.G00.51.013", "1800.00"),
                ("S21.G00.53.001", "01"), ("S21.G00.53.002", contract.hours), ("S21.G00.53.003", "10"),
            ]
        return out


def _given(lines: list[tuple[str, str | None]]) -> list[Line]:
    """The lines whose value is given (not None)."""
    return [(code, value) for code, value in lines if value is not None]


@dataclass(frozen=True)
class Workplace:
    """A workplace or temp-work user establishment (S21.G00.85)."""

    siret: str
    naf: str
    postal_code: str
    street: str | None = None
    city: str | None = None
    nature: str | None = None  # S21.G00.85.010: 01 establishment, 03 at home, 05 private employer
    private_name: str | None = None  # S21.G00.85.013, a private employer's surname

    def lines(self) -> list[Line]:
        return _given([
            ("S21.G00.85.001", self.siret), ("S21.G00.85.002", self.naf), ("S21.G00.85.003", self.street),
            ("S21.G00.85.004", self.postal_code), ("S21.G00.85.005", self.city), ("S21.G00.85.010", self.nature),
            ("S21.G00.85.013", self.private_name),
        ])


@dataclass
class Declaration:
    siret: str
    month: str  # 'YYYY-MM'
    individuals: list[Individual] = field(default_factory=list)
    type: str = "01"
    nature: str = "01"
    order: str = "1"
    fraction: str = "11"  # S20.G00.05.003: fraction 1 of 1 (whole); "12", "22": the first and second of two
    created: str | None = None  # ISO date of constitution; default the 5th of the next month
    replaces: str | None = None  # S20.G00.05.006
    naf: str = "5610A"
    postal_code: str = "75011"
    idcc: str = "1979"
    # (SIRET, APET, postal code) or a Workplace
    workplaces: list[tuple[str, str, str] | Workplace] = field(default_factory=list)
    street: str | None = None  # S21.G00.11.003, written when given
    city: str | None = None  # S21.G00.11.005, written when given

    def created_iso(self) -> str:
        if self.created:
            return self.created
        year, month = map(int, self.month.split("-"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return f"{year:04d}-{month:02d}-05"

    def identifier(self) -> str:
        """What S20.G00.05.006 of a later declaration carries to target this one."""
        return dsn_date(self.created_iso()) + self.order

    def lines(self) -> list[Line]:
        year, month = self.month.split("-")
        out: list[Line] = [
            ("S20.G00.05.001", self.nature), ("S20.G00.05.002", self.type), ("S20.G00.05.003", self.fraction),
            ("S20.G00.05.004", self.order), ("S20.G00.05.005", f"01{month}{year}"),
        ]
        if self.replaces:
            out.append(("S20.G00.05.006", self.replaces))
        out += [
            ("S20.G00.05.007", dsn_date(self.created_iso())), ("S20.G00.05.010", "01"),
            ("S21.G00.06.001", self.siret[:9]), ("S21.G00.06.002", self.siret[9:]), ("S21.G00.06.003", self.naf),
            ("S21.G00.11.001", self.siret[9:]), ("S21.G00.11.002", self.naf),
            *_given([("S21.G00.11.003", self.street), ("S21.G00.11.004", self.postal_code), ("S21.G00.11.005", self.city)]),
            ("S21.G00.11.022", self.idcc),
        ]
        for individual in self.individuals:
            out += individual.lines()
        for place in self.workplaces:
            out += (place if isinstance(place, Workplace) else Workplace(*place)).lines()
        return out


def envoi(declarations: list[Declaration], norm: str = "P25V01", total_lines: int | None = None) -> list[Line]:
    """A whole envoi: S10 header, the declarations, and a correct S90 total (unless overridden)."""
    out: list[Line] = [
        ("S10.G00.00.001", "TESTSOFT"), ("S10.G00.00.002", "EDITEUR"), ("S10.G00.00.003", "1.0"),
        ("S10.G00.00.005", "02"), ("S10.G00.00.006", norm), ("S10.G00.00.007", "01"), ("S10.G00.00.008", "01"),
        ("S10.G00.01.001", "999999999"), ("S10.G00.01.002", "00011"), ("S10.G00.01.003", "CABINET PAIE"),
    ]
    for declaration in declarations:
        out += declaration.lines()
    count = len(out) + 2
    out += [("S90.G00.90.001", str(total_lines if total_lines is not None else count)),
            ("S90.G00.90.002", str(len(declarations)))]
    return out


def render(lines: list[Line]) -> list[str]:
    return [f"{code},'{value}'" for code, value in lines]


def write_dsn(path: Path, lines: list[Line] | list[str], encoding: str = "latin-1", newline: str = "\r\n") -> Path:
    """Write lines (rubric tuples or raw text lines) as a DSN file."""
    text_lines = render(lines) if lines and isinstance(lines[0], tuple) else lines  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(text_lines) + newline).encode(encoding))  # type: ignore[arg-type]
    return path
