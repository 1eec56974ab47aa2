import pytest

from polymath_assets.config import SETTINGS, Config, ConfigError, redact_dsn, settings_table_markdown


def test_defaults_match_the_spec():
    config = Config.from_env({})
    assert config.shard_count == 64
    assert config.embedding_dim == 1024
    assert config.extractor_version == "gemini_batch_v1"
    assert config.merge_preference == ("gemini_batch_v1", "llm_v2", "haiku_v1")
    assert config.confidence_floor == pytest.approx(0.7)
    assert config.postgres_dsn == "" and config.neo4j_uri == ""


def test_google_api_key_is_accepted_when_gemini_key_is_absent():
    assert Config.from_env({"GOOGLE_API_KEY": "g-key"}).gemini_api_key == "g-key"
    assert Config.from_env({"GOOGLE_API_KEY": "g", "GEMINI_API_KEY": "m"}).gemini_api_key == "m"


@pytest.mark.parametrize("env, message", [
    ({"POLYMATH_SHARD_COUNT": "abc"}, "POLYMATH_SHARD_COUNT='abc' is not an integer"),
    ({"POLYMATH_SHARD_COUNT": "0"}, "POLYMATH_SHARD_COUNT=0 must be at least 1"),
    ({"POLYMATH_CONFIDENCE_FLOOR": "high"}, "POLYMATH_CONFIDENCE_FLOOR='high' is not a number"),
    ({"POLYMATH_GEMINI_TIMEOUT_S": "0"}, "POLYMATH_GEMINI_TIMEOUT_S=0 must be a positive number of seconds"),
    ({"POLYMATH_GEMINI_TIMEOUT_S": "inf"}, "POLYMATH_GEMINI_TIMEOUT_S=inf must be a positive"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


def test_secrets_never_appear_in_the_public_view_or_repr():
    config = Config.from_env({
        "GEMINI_API_KEY": "AIza-secret", "NEO4J_PASSWORD": "pw-secret",
        "POSTGRES_DSN": "postgresql://kb:db-secret@db:5432/kb",
    })
    shown = repr(config) + str(config.public_view())
    for secret in ("AIza-secret", "pw-secret", "db-secret"):
        assert secret not in shown
    assert config.public_view()["gemini_api_key"] == "set"


@pytest.mark.parametrize("dsn, expected", [
    ("postgresql://kb:s3cret@db:5432/kb", "postgresql://kb:***@db:5432/kb"),
    ("host=db user=kb password=s3cret dbname=kb", "host=db user=kb password=*** dbname=kb"),
    ("postgresql://postgres:@/polymath?host=/tmp/x", "postgresql://postgres:***@/polymath?host=/tmp/x"),
])
def test_redact_dsn(dsn, expected):
    assert redact_dsn(dsn) == expected


def test_readme_configuration_table_lists_every_setting():
    table = settings_table_markdown()
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in table
        assert f"`{setting.env}`" in readme, f"README configuration table lacks {setting.env}"


def test_env_file_presets_settings_and_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / "polymath.env"
    env_file.write_text("# offline profile\nPOLYMATH_EMBEDDING_DIM=384\nPOLYMATH_SHARD_COUNT=8\n")
    monkeypatch.setenv("POLYMATH_ENV_FILE", str(env_file))
    monkeypatch.setenv("POLYMATH_SHARD_COUNT", "16")
    config = Config.from_env()
    assert (config.embedding_dim, config.shard_count) == (384, 16)


def test_env_file_refuses_secrets(tmp_path, monkeypatch):
    env_file = tmp_path / "polymath.env"
    env_file.write_text("GEMINI_API_KEY=AIza-not-here\n")
    monkeypatch.setenv("POLYMATH_ENV_FILE", str(env_file))
    with pytest.raises(ConfigError, match="GEMINI_API_KEY is a secret; set it in the environment"):
        Config.from_env()
