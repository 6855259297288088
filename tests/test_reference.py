"""Small reference helpers: job-title normalisation, geography, pseudonyms, configuration."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pytest

from core.config import ConfigError, load_config, pseudonym_key
from core.geography import departement_of, departement_sql, place_of, places_table
from warehouse.posts import normalise_post
from warehouse.pseudonym import Pseudonymiser, is_valid_nir


@pytest.mark.parametrize(
    ("title", "post"),
    [
        ("Serveur H/F", "serveur"),
        ("SERVEUSE", "serveur"),
        ("serveur(se)", "serveur"),
        ("Serveur / Serveuse", "serveur"),
        ("Agent d'entretien", "agent entretien"),
        ("AGENT D ENTRETIEN", "agent entretien"),
        ("Employée polyvalente", "employe polyvalent"),
        ("Boulangère", "boulanger"),
        ("Animatrice", "animateur"),
        ("Aide-soignante (F/H)", "aide soignant"),
        ("Manœuvre", "manoeuvre"),
        ("MANŒUVRE", "manoeuvre"),
        ("Chef œnologue", "chef oenologue"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_post(title, post):
    assert normalise_post(title) == post


@pytest.mark.parametrize(
    ("postal_code", "departement", "region_code"),
    [
        ("75011", "75", "11"),
        ("01000", "01", "84"),
        ("20090", "2A", "94"),
        ("20200", "2B", "94"),
        ("97411", "974", "04"),
        ("97600", "976", "06"),
        ("98000", None, None),
        ("7501", None, None),
        (None, None, None),
    ],
)
def test_geography(postal_code, departement, region_code):
    assert departement_of(postal_code) == departement
    # The SQL rule gives the same code; one outside France's départements (98) then joins no place.
    in_sql = duckdb.sql(f"SELECT {departement_sql('p')} FROM (SELECT ?::VARCHAR AS p)", params=[postal_code]).fetchone()[0]
    known = {p.departement for p in places_table()}
    assert (in_sql if in_sql in known else None) == departement
    place = place_of(postal_code)
    assert (place.region_code if place else None) == region_code


def test_pseudonyms_are_keyed_and_stable():
    one, other = Pseudonymiser(b"k1"), Pseudonymiser(b"k2")
    assert is_valid_nir("1800175123456") and not is_valid_nir("1234567890123")
    assert one.person("1800175123456", "A", "B", "01011980") == one.person("1800175123456", "X", "Y", "02021990")
    assert one.person("1800175123456", None, None, None) != other.person("1800175123456", None, None, None)
    by_identity = one.person(None, "Dupont", "Léa", "14031985")
    assert by_identity[1] == "identity" and by_identity == one.person("", "DUPONT ", "LEA", "14031985")
    assert one.person("1234567890123", "Dupont", "Léa", "14031985") == by_identity  # invalid NIR: identity
    assert one.person(None, None, None, None) is None
    assert len(by_identity[0]) == 32 and "DUPONT" not in by_identity[0]
    # The first 128 bits of HMAC-SHA256("nir:<NIR>") under the key: a pseudonym never changes with the code.
    assert one.person("1800175123456", None, None, None) == ("07dc701aa77fdb335a897b04f14b2938", "nir")
    assert one.by_matricule("123456789", "M1") == ("f800a30045624c01bb04a7e03482023a", "matricule")


@pytest.mark.parametrize("key_bytes", [1, 32, 63, 64, 65, 200])
def test_pseudonyms_are_the_hmac_of_the_identifier_whatever_the_key_length(key_bytes):
    key = bytes(range(7, 7 + key_bytes % 249)) + b"k" * (key_bytes - key_bytes % 249)
    expected = hmac.new(key, b"nir:1800175123456", hashlib.sha256).hexdigest()[:32]
    assert Pseudonymiser(key).person("1800175123456", None, None, None) == (expected, "nir")


def test_config_errors_name_the_file_and_setting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ningest:\n  workers: 0\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid settings: ingest.workers"):
        load_config(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("version: 1\ningest:\n  wrokers: 2\n")
    with pytest.raises(ConfigError, match=r"ingest\.wrokers"):
        load_config(unknown)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    memory = tmp_path / "memory.yaml"
    memory.write_text("version: 1\nduckdb:\n  memory_limit: lots\n")
    with pytest.raises(ConfigError, match=r"duckdb\.memory_limit"):
        load_config(memory)


@pytest.mark.parametrize(("written", "read"), [("on", "on"), ("off", "off"), ('"on"', "on"), ("auto", "auto")])
def test_ipw_reads_as_the_readme_writes_it(tmp_path, written, read):
    settings = tmp_path / "ipw.yaml"
    settings.write_text(f"version: 1\ntraining:\n  ipw: {written}\n")  # unquoted, YAML 1.1 reads on/off as booleans
    assert load_config(settings).training.ipw == read


def test_shipped_config_is_valid():
    config = load_config()
    assert config.version == 1 and config.duckdb.memory_limit == "5GB"


def test_key_comes_from_environment_or_file(tmp_path, monkeypatch, home, config):
    monkeypatch.delenv(config.pseudonymisation.key_env, raising=False)
    with pytest.raises(ConfigError, match="no pseudonymisation key"):
        pseudonym_key(config, home)
    key_file = home.root / config.pseudonymisation.key_file
    key_file.parent.mkdir(parents=True)
    key_file.write_text("from-file\n")
    assert pseudonym_key(config, home) == b"from-file"
    monkeypatch.setenv(config.pseudonymisation.key_env, "from-env")
    assert pseudonym_key(config, home) == b"from-env"
