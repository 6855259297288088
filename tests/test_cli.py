"""The command line is thin: arguments in, the stage function called, a summary out."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from champollion.cli import app
from tests.dsn_builder import Contract, Declaration, Individual, envoi, write_dsn

runner = CliRunner()


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "simulate", "init-key"):
        assert command in result.output


def test_ingest_without_a_key_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAMPOLLION_PSEUDONYM_KEY", raising=False)
    result = runner.invoke(app, ["--home", str(tmp_path), "ingest", str(tmp_path)])
    assert result.exit_code == 2
    assert "no pseudonymisation key" in result.output


def test_init_key_then_ingest(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAMPOLLION_PSEUDONYM_KEY", raising=False)
    declaration = Declaration("12345678900011", "2025-01", [Individual(contracts=[Contract("C1", "2025-01-06")])])
    path = write_dsn(tmp_path / "in" / "a.dsn", envoi([declaration]))
    assert runner.invoke(app, ["--home", str(tmp_path), "init-key"]).exit_code == 0
    assert (tmp_path / "secrets" / "pseudonym.key").exists()
    result = runner.invoke(app, ["--home", str(tmp_path), "ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "DSN ingestion" in result.output
    assert (tmp_path / "data" / "warehouse" / "contracts.parquet").exists()


def test_bad_configuration_stops_before_any_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n")
    result = runner.invoke(app, ["--config", str(bad), "--home", str(tmp_path), "init-key"])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output
    assert not (tmp_path / "secrets").exists()


def test_windows_other_than_the_features_names_are_refused(tmp_path):
    """hires_12m is read « sur 12 mois » by inspectors: a window of 6 months would be computed under that name."""
    bad = tmp_path / "six.yaml"
    bad.write_text("features:\n  window_months: 6\n")
    result = runner.invoke(app, ["--config", str(bad), "--home", str(tmp_path), "init-key"])
    assert result.exit_code == 2
    assert "six.yaml" in result.output and "named and labelled for windows of 12 and 3 months" in result.output


@pytest.mark.parametrize(("proxy", "why"), [
    *((proxy, "is not an IP address or network") for proxy in ("*", "proxy.example", "10.0.0.300", "10.0.0.1/8")),
    # every address, or half of them (0.0.0.0/1 and 128.0.0.0/1 together are every one)
    *((proxy, "is wider than any network of proxies") for proxy in (
        "0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/7", "fc00::/6", "::/8", "::ffff:0:0/96",
        "::ffff:10.0.0.0/103")),
])
def test_a_trusted_proxy_must_be_an_address_or_a_network_of_proxies(tmp_path, proxy, why):
    """A proxy trusted as « * », or as a network as wide as a large part of the Internet, would let any client in it
    name the address its failed sign-ins count against."""
    bad = tmp_path / "proxy.yaml"
    bad.write_text(f"web:\n  trusted_proxies: ['10.0.0.0/8', '{proxy}']\n")
    result = runner.invoke(app, ["--config", str(bad), "--home", str(tmp_path), "init-key"])
    assert result.exit_code == 2
    assert "proxy.yaml" in result.output and f"{proxy!r} {why}" in result.output
    good = tmp_path / "good.yaml"
    good.write_text("web:\n  trusted_proxies: ['10.0.0.0/8', '172.16.0.0/12', '192.168.1.7', 'fd00::/8', 'fc00::/7', "
                    "'::1', '::ffff:10.0.0.0/104']\n")
    assert runner.invoke(app, ["--config", str(good), "--home", str(tmp_path), "init-key"]).exit_code == 0


def test_features_on_the_chosen_engine(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAMPOLLION_PSEUDONYM_KEY", raising=False)
    declaration = Declaration("12345678900011", "2025-01", [Individual(contracts=[Contract("C1", "2025-01-06")])])
    path = write_dsn(tmp_path / "in" / "a.dsn", envoi([declaration]))
    base = ["--home", str(tmp_path)]
    assert runner.invoke(app, [*base, "init-key"]).exit_code == 0
    assert runner.invoke(app, [*base, "ingest", str(path)]).exit_code == 0
    unknown = runner.invoke(app, [*base, "features", "--as-of", "2025-01", "--engine", "polars"])
    assert unknown.exit_code == 2 and "polars" in unknown.output
    result = runner.invoke(app, [*base, "features", "--as-of", "latest", "--engine", "duckdb"])
    assert result.exit_code == 0, result.output
    assert "features as of 2025-01: 1 establishments" in result.output and "on duckdb" in result.output
    assert (tmp_path / "data" / "features" / "as_of=2025-01" / "features.parquet").exists()


def test_features_of_a_range_of_months(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAMPOLLION_PSEUDONYM_KEY", raising=False)
    contract = Contract("C1", "2025-01-06")
    declarations = [Declaration("12345678900011", month, [Individual(contracts=[contract])], order=str(i))
                    for i, month in enumerate(["2025-01", "2025-02", "2025-03"], start=1)]
    path = write_dsn(tmp_path / "in" / "a.dsn", envoi(declarations))
    base = ["--home", str(tmp_path)]
    assert runner.invoke(app, [*base, "init-key"]).exit_code == 0
    assert runner.invoke(app, [*base, "ingest", str(path)]).exit_code == 0
    backwards = runner.invoke(app, [*base, "features", "--as-of", "2025-03..2025-01"])
    assert backwards.exit_code == 2 and "first month comes after the last" in backwards.output
    result = runner.invoke(app, [*base, "features", "--as-of", "2025-02..latest"])
    assert result.exit_code == 0, result.output
    assert "features as of 2025-02" in result.output and "features as of 2025-03" in result.output
    stored = sorted(p.name for p in (tmp_path / "data" / "features").iterdir())
    assert stored == ["as_of=2025-02", "as_of=2025-03"]
    # A month the warehouse does not declare has no population: refused alone, left out of a range, never stored.
    future = runner.invoke(app, [*base, "features", "--as-of", "2030-01"])
    assert future.exit_code == 2 and "no declarations for 2030-01" in future.output
    beyond = runner.invoke(app, [*base, "features", "--as-of", "2025-03..2025-05"])
    assert beyond.exit_code == 0, beyond.output
    assert "left out, no declarations for them in the warehouse: 2025-04..2025-05" in beyond.output
    assert sorted(p.name for p in (tmp_path / "data" / "features").iterdir()) == stored


def test_every_command_stops_on_a_home_whose_published_version_is_missing(tmp_path):
    """`train` said "no inspections: run import-inspections first", `features` found no establishment: the warehouse
    read as empty. Every command now stops first, naming the missing version."""
    data = tmp_path / "home" / "data"
    data.mkdir(parents=True)
    (data / "current").symlink_to("versions/000003")
    (data / "warehouse").symlink_to("current/warehouse")
    runner = CliRunner()
    for command in (["features", "--as-of", "2025-01"], ["train"], ["score"], ["audit"]):
        result = runner.invoke(app, ["--home", str(tmp_path / "home"), *command])
        assert result.exit_code == 2, (command, result.output)
        assert "links to versions/000003, which is missing" in result.output, command
    for command in (["ingest", "--help"], ["simulate", "--help"]):  # the help is there to read whatever the home
        result = runner.invoke(app, ["--home", str(tmp_path / "home"), *command])
        assert result.exit_code == 0 and "Usage" in result.output, command


@pytest.mark.parametrize(("outcome", "said"), [("published", None), ("busy", "the warehouse is busy"),
                                               ("broken", "needs mending"), ("failed", "could not be written")])
def test_serve_says_at_start_where_the_recorded_controls_are(tmp_path, monkeypatch, outcome, said):
    """The controls recorded in the web application reach the inspections store when it starts; when they cannot,
    `serve` says why before serving."""
    import types

    import uvicorn

    import web.app

    served = []
    state = types.SimpleNamespace(publish_outcomes=lambda: outcome)
    monkeypatch.setattr(web.app, "create_app", lambda home, config: types.SimpleNamespace(state=state))
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: served.append(
        (options["port"], options["proxy_headers"], options["forwarded_allow_ips"])))
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served == [(8123, True, ["127.0.0.1", "::1"])]  # the client's address is read from these proxies only
    if said is None:
        assert "inspections store" not in result.output
    else:
        assert said in result.output


def test_a_full_disk_is_said_in_one_line_and_other_errors_are_not_hidden(monkeypatch, capsys):
    """A disk found full (by Python, or by DuckDB in its own words, or in a worker's error raised from it) stopped a
    command with a traceback: it is said in one line, with the file written and what to do, exit 2. Any other error
    keeps its traceback."""
    import errno

    import duckdb

    import champollion.cli as cli

    def full_in_python() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/home/data/versions/000004/warehouse/x.parquet")

    def full_in_duckdb() -> None:
        try:
            raise duckdb.IOException('IO Error: Could not write file "spill/x.tmp": No space left on device')
        except duckdb.IOException as exc:
            raise RuntimeError("features: part 3 of 12 failed") from exc

    for command, where in ((full_in_python, "/home/data/versions/000004/warehouse/x.parquet"), (full_in_duckdb, "")):
        monkeypatch.setattr(cli, "app", command)
        with pytest.raises(SystemExit) as stopped:
            cli.run()
        assert stopped.value.code == 2
        said = capsys.readouterr().err
        assert said.startswith("no space left on the disk " + (f"of {where}:" if where else "(the home's data folder"))
        assert said.count("\n") == 1
        assert "Free space and run the command again" in said and "nothing half written there" in said

    def another() -> None:
        error = ValueError("not a disk")
        error.__context__ = RuntimeError("raised while handling it")
        error.__context__.__context__ = error  # a cycle of causes: looked through once
        raise OSError(errno.EACCES, "Permission denied", "/home/data") from error

    monkeypatch.setattr(cli, "app", another)
    with pytest.raises(PermissionError):
        cli.run()
