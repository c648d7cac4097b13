"""Settings are validated with types: a wrong value stops with exit 2 and a message naming it, never a traceback."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from fee_engine.cli import app
from fee_engine.identity import make_synthetic
from fee_engine.settings import SettingsError
from fee_engine.taxdata.base import Lookup
from fee_engine.taxdata.cache import LookupCache
from fee_engine.taxdata.http import ApiConfig

runner = CliRunner()
FNR = make_synthetic(dt.date(1984, 2, 29), 7)


def run_api(demo, tmp_path, *extra, env=None):
    return runner.invoke(
        app,
        [
            "run",
            str(demo / "innskriving.csv"),
            "--source",
            "api",
            "--period",
            "2024-08..2025-07",
            "--out",
            str(tmp_path / "o"),
            *extra,
        ],
        env=env or {},
    )


@pytest.mark.parametrize("value", ["0", "-1", "abc", "6", "2.5", "1e3"])
def test_max_in_flight_outside_1_to_5_is_named_and_exits_2(demo, tmp_path, value):
    res = run_api(demo, tmp_path, env={"FEE_ENGINE_MAX_IN_FLIGHT": value, "FEE_ENGINE_CLIENT_ID": "x"})
    assert res.exit_code == 2, res.output
    assert "FEE_ENGINE_MAX_IN_FLIGHT" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o" / "maanedlig.csv").exists()


@pytest.mark.parametrize(
    "text",
    [
        f"client_id: demo\nconsumer_org: [{FNR}\n",  # not YAML, with a fødselsnummer on the bad line
        f"- {FNR}\n- b\n",  # a list, not settings
        f"{FNR}: 1\n",  # a key that is a number
        f"client_id: demo\nfoedselsnummer_{FNR}: 1\n",  # an unknown key
        f"client_id: demo\nmax_in_flight: {FNR}\n",  # a number far out of range
        f"client_id: demo\nkey_password: {FNR}\nssg_url: {FNR}\n",
    ],
)
def test_a_malformed_api_config_exits_2_without_a_full_foedselsnummer(demo, tmp_path, text):
    cfg = tmp_path / "api.yaml"
    cfg.write_text(text, encoding="utf-8")
    res = run_api(demo, tmp_path, "--api-config", str(cfg))
    assert res.exit_code == 2, res.output
    assert FNR not in res.output and "Traceback" not in res.output and str(cfg.name) in res.output


def test_the_password_is_never_shown():
    with pytest.raises(SettingsError) as err:
        ApiConfig.load(None, environ={"FEE_ENGINE_KEY_PASSWORD": "hemmelig-passord", "FEE_ENGINE_MAX_IN_FLIGHT": "x"})
    assert "hemmelig" not in str(err.value)
    cfg = ApiConfig.load(None, environ={"FEE_ENGINE_KEY_PASSWORD": "hemmelig-passord"})
    assert "hemmelig" not in repr(cfg) and "hemmelig" not in str(cfg)


def test_good_settings_from_file_and_environment(tmp_path):
    cfg = tmp_path / "api.yaml"
    cfg.write_text("env: prod\nclient_id: abc\nconsumer_org: 964338531\nmax_in_flight: 3\n", encoding="utf-8")
    c = ApiConfig.load(cfg, environ={"FEE_ENGINE_MAX_IN_FLIGHT": "2", "FEE_ENGINE_CLIENT_ID": ""})
    assert (c.env, c.client_id, c.consumer_org, c.max_in_flight) == ("prod", "abc", "964338531", 2)  # environment wins
    assert c.token_url == "https://maskinporten.no/token" and c.ssg_url.endswith("skatteetaten.no")


@pytest.mark.parametrize(
    "env,words",
    [
        ({"FEE_ENGINE_ENV": "dev"}, "FEE_ENGINE_ENV"),
        ({"FEE_ENGINE_TOKEN_URL": "ftp://x"}, "FEE_ENGINE_TOKEN_URL"),
        ({"FEE_ENGINE_SSG_URL": "https://a\r\nb"}, "FEE_ENGINE_SSG_URL"),
        ({"FEE_ENGINE_CONSUMER_ORG": "12"}, "FEE_ENGINE_CONSUMER_ORG"),
        ({"FEE_ENGINE_MAX_ATTEMPTS": "0"}, "FEE_ENGINE_MAX_ATTEMPTS"),
    ],
)
def test_other_settings_are_checked_too(env, words):
    with pytest.raises(SettingsError, match=words):
        ApiConfig.load(None, environ=env)


@pytest.mark.parametrize("days", ["-5", "-1"])
def test_cache_purge_refuses_negative_days_and_deletes_nothing(tmp_path, days):
    f = tmp_path / "skatt.sqlite"
    c = LookupCache(f)
    c.put(Lookup(FNR, 2023, "oppgjoer", "ingen_data", "SSG-008"))
    c.close()
    res = runner.invoke(app, ["cache", "purge", "--days", days, "--cache", str(f)])
    assert res.exit_code == 2 and "--days" in res.output
    assert LookupCache(f).count() == 1


def test_cache_purge_days_0_deletes_everything(tmp_path):
    f = tmp_path / "skatt.sqlite"
    c = LookupCache(f)
    c.put(Lookup(FNR, 2023, "oppgjoer", "ingen_data", "SSG-008"))
    c.close()
    res = runner.invoke(app, ["cache", "purge", "--days", "0", "--cache", str(f)])
    assert res.exit_code == 0 and LookupCache(f).count() == 0


def test_audit_log_setting_is_a_path(tmp_path, audit_log_in_tmp):
    from fee_engine.audit import default_path

    assert default_path(environ={"FEE_ENGINE_AUDIT_LOG": str(tmp_path / "x.jsonl")}) == tmp_path / "x.jsonl"
    assert default_path(tmp_path / "c" / "skatt.sqlite", environ={}) == tmp_path / "c" / "revisjon.jsonl"
    assert str(default_path(environ={})) == ".fee-engine/revisjon.jsonl"
