import pytest

from bot.config import load_settings
from bot.errors import ConfigError

VALID = dict(
    wecom_corp_id="ww1234567890",
    wecom_agent_id=1000002,
    wecom_secret="s3cret-value",
    wecom_token="tok",
    wecom_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
)


class TestLoadSettings:
    def test_production_needs_each_wecom_variable_by_name(self):
        with pytest.raises(ConfigError) as err:
            load_settings(_env_file=None, **{**VALID, "wecom_secret": None, "wecom_token": None})
        assert "WECOM_SECRET" in str(err.value) and "WECOM_TOKEN" in str(err.value)

    @pytest.mark.parametrize("key", ["short", "x" * 44, "!" * 43])
    def test_aes_key_must_be_43_base64_chars(self, key):
        with pytest.raises(ConfigError, match="WECOM_AES_KEY"):
            load_settings(_env_file=None, **{**VALID, "wecom_aes_key": key})

    def test_placeholder_secret_rejected_in_production(self):
        with pytest.raises(ConfigError, match="changethis"):
            load_settings(_env_file=None, **{**VALID, "wecom_secret": "changethis"})

    def test_agent_id_must_be_integer(self):
        with pytest.raises(ConfigError, match="WECOM_AGENT_ID"):
            load_settings(_env_file=None, **{**VALID, "wecom_agent_id": "abc"})

    def test_secrets_never_in_repr(self):
        settings = load_settings(_env_file=None, **VALID)
        assert "s3cret-value" not in repr(settings)
        assert "s3cret-value" not in str(settings.wecom)

    def test_reads_environment_names_of_design(self, monkeypatch, tmp_path):
        for key, value in VALID.items():
            monkeypatch.setenv(key.upper(), str(value))
        monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/scrm")
        monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1/")
        monkeypatch.setenv("LLM_MODEL", "m")
        settings = load_settings(_env_file=None)
        assert settings.wecom.corp_id == "ww1234567890"
        assert settings.db_url == "postgresql://u:p@db/scrm"
        assert settings.llm.base_url == "http://127.0.0.1:9/v1"

    def test_demo_mode_fills_wecom_defaults_and_sqlite_under_data_dir(self, tmp_path):
        settings = load_settings(_env_file=None, scrm_env="demo", scrm_data_dir=tmp_path)
        assert len(settings.wecom.aes_key.get_secret_value()) == 43
        assert settings.db_url == f"sqlite:///{tmp_path / 'scrm.db'}"
        assert settings.llm is None

    def test_llm_half_configured_is_an_error(self):
        with pytest.raises(ConfigError, match="LLM_BASE_URL and LLM_MODEL"):
            load_settings(_env_file=None, **VALID, llm_base_url="http://127.0.0.1:1/v1")


def test_env_example_lists_every_setting():
    from pathlib import Path

    from bot.config import Settings

    listed = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (Path(__file__).resolve().parents[2] / ".env.example").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith("# ") or line.startswith("# DATABASE_URL=")
    }
    missing = {name.upper() for name in Settings.model_fields} - listed
    assert missing == set()
