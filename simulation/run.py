"""`simulate`: the whole simulated world, from establishments to DSN files and truth tables."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from features.branch_agreements import rule_of
from simulation.abuse import extend_to_contracts, plan_abuse
from simulation.calendar import Period
from simulation.contracts import subset
from simulation.dsn_writer import DsnWriter, contract_numbers
from simulation.generation import generate_contracts
from simulation.identity import identities
from simulation.inspections import run_inspections
from simulation.noise import declaration_plan
from simulation.population import build_population
from simulation.presets import get_preset
from simulation.random_stream import Stage, stream_for
from simulation.rules import checked_rules, fixed_term_end, lasting_job_contracts, renewals_by
from simulation.summary import Progress, SimulationSummary
from simulation.truth import ContractTruth, write_truth

log = logging.getLogger("simulation")

TARGET_ABUSIVE_SHARE = 0.13  # before inspections (deterrence lowers it a little)


def _logged(progress: Progress | None) -> Progress:
    """Forward progress to the caller's callback and log it (about every tenth of a stage)."""

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)
        if done == total or done % max(1, total // 10) == 0:
            log.info("%s: %d/%d", stage, done, total)

    return report


def simulate(out: Path, preset: str = "default", seed: int = 0, progress: Progress | None = None,
             known_inspection_months: int | None = None) -> SimulationSummary:
    """Simulate a population and write, under `out`: dsn/ (monthly DSN files), inspections.csv and truth/.

    Same preset and seed give byte-identical files. Existing `out/dsn` and `out/truth` are replaced.
    `progress(stage, done, total)` is called as the work advances (stages: population, contracts,
    inspections, dsn, truth). `known_inspection_months` overrides the preset's (see `Preset`):
    `inspections.csv` holds the first N months of inspections, `inspections-all.csv` all of them.
    """
    began = time.perf_counter()
    settings = get_preset(preset)
    if known_inspection_months is not None:
        settings = replace(settings, known_inspection_months=known_inspection_months)
    if settings.known_inspection_months is not None and settings.known_inspection_months < 1:
        raise ValueError(f"known inspection months must be at least 1, not {settings.known_inspection_months}")
    out = Path(out)
    report = _logged(progress)
    for owned in ("dsn", "truth"):
        shutil.rmtree(out / owned, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    period = Period(settings.first_month, settings.n_months)
    log.info("simulating preset %s (seed %d): %d establishments, %s to %s", settings.name, seed,
             settings.n_establishments, settings.first_month, settings.last_month)

    establishments, emitters = build_population(settings, stream_for(seed, Stage.POPULATION),
                                             stream_for(seed, Stage.ADDRESSES))
    plan = plan_abuse(establishments, period, stream_for(seed, Stage.ABUSE), TARGET_ABUSIVE_SHARE)
    report("population", 1, 1)
    contracts, absences, people = generate_contracts(establishments, plan, period, seed, report)
    extend_to_contracts(plan, contracts.episode, fixed_term_end(contracts), ~contracts.dropped)
    inspections, first_finding = run_inspections(establishments, plan, contracts, period,
                                                 stream_for(seed, Stage.INSPECTIONS))
    report("inspections", 1, 1)

    in_period = ~contracts.dropped & (contracts.start <= period.last_day) & (contracts.end >= period.first_day)
    extend_to_contracts(plan, contracts.episode, fixed_term_end(contracts), in_period)
    contracts, new_index = subset(contracts, in_period)
    for absence in absences:
        absence.contract = int(new_index[absence.contract]) if absence.contract >= 0 else -1
    usage_allowed = np.array([e.sector.usage_allowed for e in establishments])
    carence = np.array([rule_of(e.idcc).carence for e in establishments])
    rules = contracts.rules | checked_rules(contracts, usage_allowed, carence, period)
    sex = np.asarray(people.sex)
    people_identities = identities(sex, np.asarray(people.birth_day), stream_for(seed, Stage.IDENTITIES))
    status = declaration_plan(len(establishments), period.n_months, stream_for(seed, Stage.NOISE))
    numbers = contract_numbers(contracts, establishments, emitters)

    writer = DsnWriter(out, period, establishments, emitters, contracts, numbers, people_identities, sex, absences,
                       status, stream_for(seed, Stage.DSN), settings.max_declarations_per_file,
                       stream_for(seed, Stage.PAYROLL))
    written = writer.write(report)
    in_dsn, end_block_written = writer.presence()
    extra = ContractTruth(numbers=numbers, rules=rules, renewals=renewals_by(contracts, period), in_dsn=in_dsn,
                          end_block_written=end_block_written, mistaken_end=writer.mistaken_ends(),
                          lasting_job=lasting_job_contracts(contracts, period))
    write_truth(out, settings, seed, period, establishments, plan, first_finding, contracts, extra, absences,
                inspections, written)
    report("truth", 1, 1)
    summary = SimulationSummary(
        out=out, preset=settings.name, seed=seed, n_establishments=len(establishments), n_months=period.n_months,
        first_month=settings.first_month, last_month=settings.last_month, n_files=written.n_files,
        n_declarations=len(written.declarations), dsn_bytes=written.n_bytes, n_contracts=len(contracts),
        n_inspections=len(inspections), seconds=round(time.perf_counter() - began, 2),
    )
    log.info("wrote %d DSN files (%.1f MB), %d contracts, %d inspections in %.1f s", summary.n_files,
             summary.dsn_bytes / 1e6, summary.n_contracts, summary.n_inspections, summary.seconds)
    return summary
