"""Config file location, validation and precedence: option > env > config > default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from toolkit.cli.options import apply_to_command
from toolkit.config import Config, ConfigError, config_path, effective, load_config


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_location(tmp_path: Path) -> None:
    assert config_path({"PSFLEET_CONFIG": "/etc/p.toml"}) == (Path("/etc/p.toml"), True)
    assert config_path({"PSFLEET_CONFIG": ""}) == (None, False)
    assert config_path({"XDG_CONFIG_HOME": "/x"}) == (Path("/x/psfleet/config.toml"), False)
    assert config_path({"HOME": "/home/u"}) == (Path("/home/u/.config/psfleet/config.toml"), False)


def test_missing_default_file_is_fine_missing_named_file_is_not(tmp_path: Path) -> None:
    assert load_config(env={"XDG_CONFIG_HOME": str(tmp_path)}) == Config()
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(env={"PSFLEET_CONFIG": str(tmp_path / "nope.toml")})


def test_values_tables_and_relative_inventory(tmp_path: Path) -> None:
    path = write(
        tmp_path / "psfleet" / "config.toml",
        'inventory = "fleet.yml"\nforks = 8\ntimeout = 30\nformat = "json"\n[run]\nformat = "ndjson"\n',
    )
    config = load_config(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert config.path == path
    assert config.get("inventory") == str(tmp_path / "psfleet" / "fleet.yml")
    assert config.get("format", "run") == "ndjson"
    assert config.get("format", "audit") == "json"
    assert config.get("forks", "run") == 8
    assert config.get("retries") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("forks = 'many'", "forks: expected number, got str"),
        ("forks = true", "forks: expected number"),
        ("colour = 'red'", "colour: unknown key"),
        ("[run]\nfork = 1", "run.fork: unknown key"),
        ("run = 1", "run: [run] must be a table"),
        ("forks = ", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert message in str(exc.value)
    assert str(exc.value).startswith(str(path))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("option", "from_user", "config_value", "expected"),
    [
        (5, True, 9, 5),  # option or env given: wins over the file
        (64, False, 9, 9),  # built-in default: the file wins
        (64, False, None, 64),  # nothing in the file: the default
    ],
)
def test_effective(option: int, from_user: bool, config_value: int | None, expected: int) -> None:
    assert effective(option, from_user=from_user, config_value=config_value) == expected


def _app(config: Config) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def show(
        ctx: typer.Context,
        forks: int = typer.Option(64, "--forks", min=1, envvar="PSFLEET_FORKS"),
        fmt: str = typer.Option("table", "--format", envvar="PSFLEET_FORMAT"),
    ) -> None:
        values: dict[str, Any] = apply_to_command(
            ctx, {"forks": forks, "fmt": fmt}, command="run", keys={"fmt": "format"}, config=config
        )
        print(values["forks"], values["fmt"])

    return app


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, "16 csv"),  # config over default
        ([], {"PSFLEET_FORKS": "4"}, "4 csv"),  # env over config
        (["--forks", "2"], {"PSFLEET_FORKS": "4"}, "2 csv"),  # option over env
        (["--format", "json"], {"PSFLEET_FORMAT": "junit"}, "16 json"),
        ([], {"PSFLEET_FORMAT": "junit"}, "16 junit"),
    ],
)
def test_precedence_through_the_cli(args: list[str], env: dict[str, str], expected: str) -> None:
    config = Config(Path("c.toml"), {"forks": 16, "format": "json"}, {"run": {"format": "csv"}})
    result = CliRunner().invoke(
        _app(config), args, env={"PSFLEET_FORKS": None, "PSFLEET_FORMAT": None, **env}
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected


def test_config_value_is_checked_by_the_option_type() -> None:
    config = Config(Path("c.toml"), {"forks": 0})
    result = CliRunner().invoke(_app(config), [], env={"PSFLEET_FORKS": None})
    assert isinstance(result.exception, ConfigError)
    assert "c.toml: forks:" in str(result.exception) and "0" in str(result.exception)
