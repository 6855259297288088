"""A streaming parser of DSN text: rubric lines in, declarations (with their blocks) out.

Nesting is implied by order (norm NEODeS): a block instance continues while the block code stays
the same and the field number increases; otherwise a new instance starts and attaches to the
nearest open ancestor that is its official parent. Only the blocks Champollion uses keep their
values; every other known block is still checked for its place in the tree.

Problems never stop the parse. Each is an `Issue` naming the file, the line and the reason; a
declaration that cannot be read whole carries its problems in `Declaration.problems` so that the
caller quarantines it. No rubric value ever appears in a message (a NIR may sit in the wrong
field): a bad value is described by its length and kind of characters only.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from math import isfinite

from warehouse.dsn.norm import ENVELOPE_PREFIXES, Norm, load_norm
from warehouse.dsn.reader import DecodeReport

# Blocks whose values are kept. Every other known block is walked through and checked only.
ENVOI = "S10.G00.00"
EMITTER = "S10.G00.01"
DECLARATION = "S20.G00.05"
ENTERPRISE = "S21.G00.06"
ESTABLISHMENT = "S21.G00.11"
INDIVIDUAL = "S21.G00.30"
CONTRACT = "S21.G00.40"
CHANGE = "S21.G00.41"
ABSENCE = "S21.G00.60"
SUSPENSION = "S21.G00.65"
CONTRACT_END = "S21.G00.62"
PAY = "S21.G00.50"
REMUNERATION = "S21.G00.51"
ACTIVITY = "S21.G00.53"
WORKPLACE = "S21.G00.85"
TOTAL = "S90.G00.90"

INT32_MAX = 2**31 - 1


# Years a declared date may hold: outside them it is a typing error or a payroll program's sentinel for « no date »
# (31/12/9999), refused as other bad values are. Its day after, or its day before (`warehouse.dsn.records`), stays a
# date, and a declared month keeps four digits in every engine's text of it (DuckDB writes year 999 as 0999, Python
# as 999: a month of the year 999 was kept, then never found in the partition named after it).
FIRST_YEAR, LAST_YEAR = 1900, 2199


@lru_cache(maxsize=1 << 16)  # a file holds few distinct dates, each read many times
def parse_dsn_date(value: str) -> date:
    """`DDMMYYYY` to a date of a year from FIRST_YEAR to LAST_YEAR; raises ValueError on anything else (including 99 for
    unknown parts)."""
    if len(value) != 8 or not value.isdigit():
        raise ValueError("not a DDMMYYYY date")
    if not FIRST_YEAR <= int(value[4:]) <= LAST_YEAR:
        raise ValueError(f"a year outside {FIRST_YEAR}-{LAST_YEAR}")
    try:
        return date(int(value[4:]), int(value[2:4]), int(value[:2]))
    except ValueError:
        raise ValueError("not a calendar date") from None


def parse_amount(value: str) -> float:
    """A DSN decimal (dot, two decimals, possibly negative: corrections) to a finite float."""
    try:
        amount = float(value)
    except ValueError:
        raise ValueError("not a decimal number") from None
    if not isfinite(amount):
        raise ValueError("not a finite number")
    return amount


# A number of hours above this is a typing error (more than eleven years of hours). Refused as other bad values are, it
# also keeps every sum of hours within the integers it is summed in (`warehouse.contracts.hour_units`).
MAX_HOURS = 100_000
# The longest value the norm allows is 120 characters (S21.G00.40.006, the job title): a value far beyond it is no
# rubric's (a line that lost its line ends, a file damaged), and is not stored (a 200 MB "job title" was).
MAX_VALUE_CHARS = 1_000
# A rubric line inside a value (`S21.G00.40.007,'02'S21.G00.40.008,'99'`): a lost line break joined two lines.
JOINED_LINE = re.compile(r"'S\d\d\.G\d\d\.\d\d\.\d{3},'")
# The shortest line that holds a second rubric line (`S21.G00.50.004,''S21.G00.51.001,''`): a line of a rubric not
# read is searched for one only from this length on.
MIN_JOINED_CHARS = 34
TOO_LONG = ValueError(f"longer than the {MAX_VALUE_CHARS} characters this reader takes (the norm: 120 at most)")


def parse_hours(value: str) -> float:
    """A number of hours: a finite decimal, not negative, at most `MAX_HOURS`."""
    hours = parse_amount(value)
    if hours < 0:
        raise ValueError("negative hours")
    if hours > MAX_HOURS:
        raise ValueError(f"out of range (above {MAX_HOURS:,} hours)")
    return hours


def parse_count(value: str) -> int:
    """A count (headcount, lines, declarations): digits only, at most INT32_MAX (a warehouse int32)."""
    if not value.isdigit() or not value.isascii():
        raise ValueError("not a whole number")
    count = int(value)
    if count > INT32_MAX:
        raise ValueError(f"out of range (above {INT32_MAX})")
    return count


def describe_value(value: object) -> str:
    """What a bad value looks like, without the value itself (it may be personal)."""
    text = str(value)
    kind = "digits" if text.isdigit() else "blank" if not text.strip() else "text"
    return f"{len(text)} characters, {kind}"


def _as_text(value: str) -> str:
    return value


_AS_TEXT = _as_text  # marks rubrics kept as text

Converter = Callable[[str], object]
"""Reads a rubric's quoted text into its value; raises ValueError on a bad value."""

# Rubric -> converter applied as the line is read, so that a bad value is reported with its line.
CONVERTERS: dict[str, Converter] = {
    "S20.G00.05.005": parse_dsn_date,
    "S20.G00.05.007": parse_dsn_date,
    "S21.G00.11.008": parse_count,
    "S21.G00.06.009": parse_count,
    "S21.G00.40.001": parse_dsn_date,
    "S21.G00.40.010": parse_dsn_date,
    "S21.G00.40.012": parse_hours,
    "S21.G00.40.013": parse_hours,
    "S21.G00.41.001": parse_dsn_date,
    "S21.G00.41.021": parse_dsn_date,
    "S21.G00.60.002": parse_dsn_date,
    "S21.G00.60.003": parse_dsn_date,
    "S21.G00.60.010": parse_dsn_date,
    "S21.G00.62.001": parse_dsn_date,
    "S21.G00.65.002": parse_dsn_date,
    "S21.G00.65.003": parse_dsn_date,
    "S21.G00.51.012": parse_hours,
    "S21.G00.53.002": parse_hours,
    "S90.G00.90.001": parse_count,
    "S90.G00.90.002": parse_count,
}

# Kept blocks that have children: the only ones a child may come back to after a sibling subtree.
REOPENABLE_BLOCKS = frozenset({ENTERPRISE, ESTABLISHMENT, INDIVIDUAL, CONTRACT})

KEPT_BLOCKS = frozenset(
    {
        ENVOI, EMITTER, DECLARATION, ENTERPRISE, ESTABLISHMENT, INDIVIDUAL, CONTRACT, CHANGE,
        ABSENCE, SUSPENSION, CONTRACT_END, REMUNERATION, ACTIVITY, WORKPLACE, TOTAL,
    }
)


@dataclass(frozen=True)
class Issue:
    """One problem found in a file: where, how serious, what kind, and why."""

    file: str
    line: int | None
    severity: str  # "warning": value dropped or tolerated; "error": declaration quarantined
    kind: str
    reason: str


@dataclass(slots=True, init=False)  # slots: a file makes millions of them
class Block:
    """One instance of a kept block: its field values by field number, and where it starts."""

    code: str
    line: int
    fields: dict[str, object]
    children: list[Block]

    def __init__(self, code: str, line: int) -> None:
        # Written here rather than generated: compiled with the module (setup.py), it costs half as much.
        self.code = code
        self.line = line
        self.fields = {}
        self.children = []

    def get(self, number: str) -> object:
        return self.fields.get(number)

    def text(self, number: str) -> str | None:
        value = self.fields.get(number)
        return value if isinstance(value, str) and value != "" else None


@dataclass
class Declaration:
    """One declaration `S20.G00.05` with its envoi context and the kept blocks below it."""

    index: int
    line_start: int
    line_end: int
    header: Block
    envoi: Block | None
    emitter: Block | None
    enterprise: Block | None = None
    establishment: Block | None = None
    individuals: list[Block] = field(default_factory=list)
    workplaces: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class FileSummary:
    """Counts over a whole file, filled as it is parsed."""

    lines: int = 0
    envelope_lines: int = 0
    envois: int = 0
    unknown_blocks: Counter = field(default_factory=Counter)
    unknown_rubrics: Counter = field(default_factory=Counter)


_UNKNOWN = Block("unknown", 0)  # marks lines of a block the norm does not define
_AFTER_FIELDS = "\x7f"  # sorts after every field number: "<block>." + this ends the block's rubrics


class _State:
    """Mutable parse state of one file; kept out of the hot loop's globals for clarity."""

    def __init__(self) -> None:
        self.envoi: Block | None = None
        self.emitter: Block | None = None
        self.skipped_lines = 0  # blank and envelope lines, which an S90 total does not count
        self.skipped_at_envoi_start = 0
        self.envoi_declarations = 0
        self.envoi_start_line = 0
        self.total: Block | None = None
        self.declaration: Declaration | None = None
        self.declaration_count = 0
        self.stack: list[str] = []
        self.last_path: dict[str, list[str]] = {}
        self.individual: Block | None = None
        self.contract: Block | None = None
        self.remuneration: Block | None = None


class DsnParser:
    """Parse the numbered lines of one file into declarations and issues.

    Usage: `for declaration in parser.parse(tokens.iter_parser_lines(stream, report), report): ...`,
    then read `parser.issues` and `parser.summary`. Declarations are yielded as soon as they end (memory stays flat).
    """

    def __init__(self, file_label: str, norm: Norm | None = None) -> None:
        self.file = file_label
        self.norm = norm or load_norm()
        self.issues: list[Issue] = []
        self.summary = FileSummary()

    # -- reporting ---------------------------------------------------------------------------
    def _issue(self, line: int | None, severity: str, kind: str, reason: str) -> None:
        self.issues.append(Issue(self.file, line, severity, kind, reason))

    def _problem(self, state: _State, line: int, kind: str, reason: str) -> None:
        """A problem that makes the current declaration unreadable (or a file-level one outside it)."""
        if state.declaration is not None:
            state.declaration.problems.append(f"line {line}: {reason}")
            self._issue(line, "error", kind, reason)
        else:
            self._issue(line, "warning", kind, reason + " (outside any declaration; line ignored)")

    def _unquoted(self, line: int, code: str, raw: str) -> str:
        """A value without its two quotes: the one quote it has is dropped ('00001 and 00001' are the contract 00001 a
        line of which lost a quote), with a warning."""
        if raw[:1] == "'" or raw[-1:] == "'":
            self._issue(line, "warning", "unquoted_value", f"{code}: value with one of its two quotes only, read without it")
            return raw[1:] if raw[:1] == "'" else raw[:-1]
        self._issue(line, "warning", "unquoted_value", f"{code}: value not enclosed in quotes, read as is")
        return raw

    def _joined(self, state: _State, line: int, code: str, text: str) -> bool:
        """Whether the value of `code` holds another rubric line (`JOINED_LINE`): two lines joined, the second lost. Its
        declaration is then quarantined, its value not kept."""
        if JOINED_LINE.search(text) is None:
            return False
        self._problem(state, line, "malformed_line", f"{code}: the value holds another rubric line (two lines joined: "
                      "a line break lost); not read")
        return True

    def _invalid_value(self, line: int, code: str, value: object, why: ValueError) -> None:
        self._issue(line, "warning", "invalid_value", f"{code}: invalid value ({describe_value(value)}): {why}; ignored")

    # -- main loop ---------------------------------------------------------------------------
    def parse(
        self, chunks: Iterable[tuple[Sequence[int], Sequence[str]]], read: DecodeReport | None = None
    ) -> Iterator[Declaration]:
        """Yield each declaration of the file once it is complete (or once the file ends).

        `chunks` are (line numbers, lines): lines without their end-of-line characters, in order,
        the file's last line included; lines left out must be ones `tokens.LineSelector` leaves out.
        `read` is the reader's report: a stream cut short (corrupt gzip) marks the file truncated.
        """
        rubrics = self.norm.rubrics
        parents = self.norm.parents
        # One lookup per kept value: the rubric's converter, _AS_TEXT, or None if the norm lacks it.
        kinds: dict[str, Converter] = {rubric: CONVERTERS.get(rubric, _AS_TEXT) for rubric in rubrics}
        # The same keyed by the line's first 15 characters (code and comma), for the fast path, with the
        # field number (one string per rubric: no slice of the line, and its hash is computed once).
        heads: dict[str, tuple[Converter, str]] = {
            rubric + ",": (convert, (rubric + ",")[11:14]) for rubric, convert in kinds.items()
        }
        # For a known rubric of a known block starting a new instance, all the line tells:
        # (block, field number, parent, end of the block's rubrics, converter).
        openers: dict[str, tuple[str, str, str | None, str, Converter]] = {
            rubric + ",": (rubric[:10], rubric[11:], parents[rubric[:10]], rubric[:11] + _AFTER_FIELDS, convert)
            for rubric, convert in kinds.items()
            if rubric[:10] in parents and rubric[0] == "S" and rubric[10] == "." and len(rubric) == 14 and "," not in rubric
        }
        as_text = _AS_TEXT
        kept_blocks = KEPT_BLOCKS
        unknown_rubrics = self.summary.unknown_rubrics
        unknown_blocks = self.summary.unknown_blocks
        state = _State()
        # Typed for Cython (setup.py): slicing, indexing and comparing these strings are direct C calls.
        line: str
        head: str
        text: str
        fieldno: str
        cur_block: str = ""
        cur_field: str = ""
        # Fast path state: while a known block instance is open and its last line was well formed,
        # `cur_head` is that line's first 15 characters and `block_end` sorts after every rubric of
        # the block, so `cur_head < head < block_end` says "same block, higher field number".
        # Otherwise block_end is "" (no line sorts before it) and `cur_field` holds the field number.
        cur_head: str = ""
        block_end: str = ""
        inst: Block | None = None
        fields: dict[str, object] = {}
        convert: Converter | None
        value: object
        number = 0
        # The hot loop, inlined for speed: most lines continue the current block instance.
        for numbers, lines in chunks:
            for number, line in zip(numbers, lines, strict=True):
                head = line[:15]
                if cur_head < head < block_end and (known := heads.get(head)) is not None:
                    # A known rubric continuing the open instance (the common case).
                    cur_head = head
                    if inst is None:
                        if len(line) >= MIN_JOINED_CHARS:  # a rubric not read may still hide one read
                            self._joined(state, number, head[:14], line[15:])
                        continue
                    convert, fieldno = known
                elif (opener := openers.get(head)) is not None and (
                    block_end or opener[0] != cur_block or opener[1] <= cur_field
                ):
                    # A known rubric starting a new instance of a known block.
                    block, fieldno, parent, block_end, convert = opener
                    if state.total is not None and block != TOTAL:
                        yield from self._close_envoi(state, number)
                    cur_block, cur_head = block, head
                    if parent is None:
                        inst = yield from self._open_root(state, block, number)
                    elif block not in kept_blocks and (stack := state.stack) and (
                        stack[-1] == block or stack[-1] == parent or (len(stack) > 1 and stack[-2] == parent)
                    ):
                        # A block walked through, placed without a call (the common cases of
                        # _open_child): another instance of the top block, a child of the top
                        # block, or a sibling of the top block.
                        if stack[-1] == parent:
                            stack.append(block)
                        else:
                            stack[-1] = block
                        inst = None
                    else:
                        inst = self._open_child(state, block, parent, number)
                    if inst is None:
                        if len(line) >= MIN_JOINED_CHARS:
                            self._joined(state, number, head[:14], line[15:])
                        continue
                    fields = inst.fields
                else:
                    # Anything else (blank, envelope, malformed or unknown), read as it always was.
                    if block_end:
                        cur_field, block_end = cur_head[11:14], ""
                    code, comma, raw = line.partition(",")
                    # (A code of the wrong length here reads as an unknown rubric of the block.)
                    if code[:10] == cur_block and comma and (fieldno := code[11:]) > cur_field:
                        cur_field = fieldno
                        if inst is None:
                            if code not in rubrics:
                                unknown_rubrics[code] += 1
                            if len(line) >= MIN_JOINED_CHARS:
                                self._joined(state, number, code, raw)
                            continue
                        if inst is _UNKNOWN:
                            unknown_blocks[cur_block] += 1
                            if len(line) >= MIN_JOINED_CHARS:
                                self._joined(state, number, code, raw)
                            continue
                    else:
                        # A new block instance, or a blank, envelope or malformed line.
                        if not line:
                            state.skipped_lines += 1
                            continue
                        block = code[:10]
                        if state.total is not None and block != TOTAL:
                            yield from self._close_envoi(state, number)
                        if not comma or len(code) != 14 or code[10] != "." or code[0] != "S":
                            self._problem(state, number, "malformed_line", "not a rubric line `Sxx.Gxx.xx.xxx,'value'`")
                            cur_block, inst = "", _UNKNOWN
                            continue
                        cur_block, cur_field = block, code[11:]
                        parent = parents.get(block, "?")
                        if parent == "?":
                            inst = _UNKNOWN
                            if code.startswith(ENVELOPE_PREFIXES):  # transport envelope: not part of the norm
                                state.skipped_lines += 1
                                self.summary.envelope_lines += 1
                                cur_block = ""
                            else:
                                unknown_blocks[block] += 1
                            if len(line) >= MIN_JOINED_CHARS:
                                self._joined(state, number, code, raw)
                            continue
                        # A well-formed code of a known block: later lines may take the fast path.
                        cur_head, block_end = code + ",", code[:11] + _AFTER_FIELDS
                        if parent is None:
                            inst = yield from self._open_root(state, block, number)
                        else:
                            inst = self._open_child(state, block, parent, number)
                        if inst is None:
                            if code not in rubrics:
                                unknown_rubrics[code] += 1
                            if len(line) >= MIN_JOINED_CHARS:
                                self._joined(state, number, code, raw)
                            continue
                        fields = inst.fields
                    # A value of a kept block.
                    convert = kinds.get(code)
                    if convert is None:
                        unknown_rubrics[code] += 1
                        if len(line) >= MIN_JOINED_CHARS:
                            self._joined(state, number, code, raw)
                        continue
                    quoted = len(raw) > 1 and raw[0] == "'" and raw[-1] == "'"
                    text = raw[1:-1] if quoted else self._unquoted(number, code, raw)
                    if len(text) > MAX_VALUE_CHARS:
                        self._invalid_value(number, code, text, TOO_LONG)
                        continue
                    if ",'" in text and self._joined(state, number, code, text):
                        continue
                    value = text
                    if convert is not as_text:
                        try:
                            value = convert(text)
                        except ValueError as why:
                            self._invalid_value(number, code, text, why)
                            continue
                    fields[cur_field] = value
                    continue
                # A value of a kept block, on a line starting with a known rubric and its comma.
                quoted = line[-1] == "'" and len(line) > 16 and line[15] == "'"
                text = line[16:-1] if quoted else self._unquoted(number, line[:14], line[15:])
                if len(text) > MAX_VALUE_CHARS:
                    self._invalid_value(number, line[:14], text, TOO_LONG)
                    continue
                if ",'" in text and self._joined(state, number, line[:14], text):
                    continue
                value = text
                if convert is not as_text:
                    try:
                        value = convert(text)
                    except ValueError as why:
                        self._invalid_value(number, line[:14], text, why)
                        continue
                fields[fieldno] = value
        self.summary.lines = number
        truncated = read.truncated if read is not None else None
        if truncated:
            self._issue(number or None, "error", "truncated_file", truncated)
        yield from self._end_of_file(state, number, truncated)

    # -- block tree --------------------------------------------------------------------------
    def _open_root(self, state: _State, block: str, line: int) -> Generator[Declaration, None, Block | None]:
        """A root block (envoi, declaration, envoi total) closes what came before it.

        A generator: closing a declaration yields it. Returns the new instance if kept.
        """
        if block == ENVOI:
            if state.envoi is not None and state.total is None and state.declaration is not None:
                # As at the end of a file: without its S90, the envoi's last declaration may have lost its end.
                reason = (f"a new envoi starts inside a declaration of the envoi starting line {state.envoi_start_line}, "
                          "which has no S90 total: the declaration is cut short")
                state.declaration.problems.append(reason)
                self._issue(line, "error", "truncated_envoi", reason)
            yield from self._close_envoi(state, line)
            yield from self._close_declaration(state, line - 1)
            state.envoi = Block(block, line)
            state.emitter = None
            state.envoi_start_line = line
            state.skipped_at_envoi_start = state.skipped_lines
            state.envoi_declarations = 0
            self.summary.envois += 1
            state.stack = [block]
            return state.envoi
        yield from self._close_declaration(state, line - 1)
        state.stack = [block]
        if block == DECLARATION:
            if state.envoi is None:
                self._issue(line, "warning", "missing_envoi", "declaration without an S10 envoi header")
            state.envoi_declarations += 1
            state.declaration = Declaration(
                index=state.declaration_count, line_start=line, line_end=line,
                header=Block(block, line), envoi=state.envoi, emitter=state.emitter,
            )
            state.declaration_count += 1
            state.last_path = {}
            return state.declaration.header
        if block == TOTAL:
            state.total = Block(block, line)
            return state.total
        return None

    def _open_child(self, state: _State, block: str, parent: str, line: int) -> Block | None:
        """Place a new instance of a non-root block under its parent; return it if kept."""
        stack = state.stack
        if stack and stack[-1] == parent:
            stack.append(block)
        elif stack and stack[-1] == block:
            pass  # another instance of the same block: the path is unchanged
        elif parent in stack:
            del stack[stack.index(parent) + 1 :]
            stack.append(block)
        elif parent in state.last_path:
            # A child after a sibling subtree of its ancestor (e.g. S21.G00.85 written between the
            # establishment and its individuals): attach to the parent's last instance.
            state.stack = stack = state.last_path[parent] + [block]
        else:
            self._problem(state, line, "wrong_parent", f"block {block} outside its parent block {parent}")
            return None
        if block not in KEPT_BLOCKS:
            return None
        if block in REOPENABLE_BLOCKS:
            state.last_path[block] = list(stack)
        return self._attach(state, block, line)

    def _attach(self, state: _State, block: str, line: int) -> Block | None:
        instance = Block(block, line)
        if block == EMITTER:
            state.emitter = instance
            return instance
        declaration = state.declaration
        if declaration is None:
            return None
        if block == INDIVIDUAL:
            declaration.individuals.append(instance)
            state.individual, state.contract, state.remuneration = instance, None, None
        elif block in (CONTRACT, REMUNERATION):
            individual = state.individual
            if individual is None:
                self._orphan(state, block, INDIVIDUAL, line)
                return None
            individual.children.append(instance)
            if block == CONTRACT:
                state.contract = instance
            else:
                state.remuneration = instance
        elif block in (CHANGE, ABSENCE, SUSPENSION, CONTRACT_END):
            contract = state.contract
            if contract is None:
                self._orphan(state, block, CONTRACT, line)
                return None
            contract.children.append(instance)
        elif block == ACTIVITY:
            remuneration = state.remuneration
            if remuneration is None:
                self._orphan(state, block, REMUNERATION, line)
                return None
            remuneration.children.append(instance)
        elif block in (ENTERPRISE, ESTABLISHMENT):
            if (declaration.enterprise if block == ENTERPRISE else declaration.establishment) is not None:
                # The norm allows one of each per declaration: a second would take every contract of the declaration,
                # those declared before it too, to its SIRET.
                self._problem(state, line, "repeated_block", f"a second block {block} in one declaration, where the "
                              "norm allows one: whose contracts it declares cannot be told")
                return None
            if block == ENTERPRISE:
                declaration.enterprise = instance
            else:
                declaration.establishment = instance
        elif block == WORKPLACE:
            declaration.workplaces.append(instance)
        return instance

    def _orphan(self, state: _State, block: str, owner: str, line: int) -> None:
        """A block whose owner is not open in this individual (e.g. an end block right after a new
        S21.G00.30): it cannot be attached, so its declaration is quarantined."""
        self._problem(state, line, "wrong_parent", f"block {block} with no {owner} open in the current individual")

    # -- closing -----------------------------------------------------------------------------
    def _close_declaration(self, state: _State, last_line: int) -> Iterator[Declaration]:
        if state.declaration is not None:
            state.declaration.line_end = last_line
            yield state.declaration
        state.declaration = None
        state.individual = state.contract = state.remuneration = None

    def _close_envoi(self, state: _State, line: int) -> Iterator[Declaration]:
        """Check the S90 totals of the envoi that ends before `line`."""
        yield from self._close_declaration(state, line - 1)
        total = state.total
        if total is not None:
            envoi_lines = line - state.envoi_start_line - (state.skipped_lines - state.skipped_at_envoi_start)
            declared_lines = total.get("001")
            declared_count = total.get("002")
            if isinstance(declared_lines, int) and declared_lines != envoi_lines:
                self._issue(
                    total.line, "warning", "s90_mismatch",
                    f"S90.G00.90.001 declares {declared_lines} lines, the envoi starting line "
                    f"{state.envoi_start_line} has {envoi_lines}",
                )
            if isinstance(declared_count, int) and declared_count != state.envoi_declarations:
                self._issue(
                    total.line, "warning", "s90_mismatch",
                    f"S90.G00.90.002 declares {declared_count} declarations, the envoi has {state.envoi_declarations}",
                )
        elif state.envoi is not None and state.envoi_declarations:
            self._issue(line, "warning", "missing_total", f"envoi starting line {state.envoi_start_line} has no S90 total")
        state.envoi = None
        state.emitter = None
        state.total = None
        state.envoi_declarations = 0

    def _end_of_file(self, state: _State, last_line: int, truncated: str | None) -> Iterator[Declaration]:
        if state.declaration is not None and (state.total is None):
            reason = truncated or "file ends inside a declaration, with no S90 total: the file is truncated"
            state.declaration.problems.append(reason)
            if not truncated:
                self._issue(last_line, "error", "truncated_file", reason)
        elif truncated and state.declaration is not None:
            state.declaration.problems.append(truncated)
        if state.total is not None or state.envoi is not None:
            yield from self._close_envoi(state, last_line + 1)
        else:
            yield from self._close_declaration(state, last_line)
