import subprocess
import sys

import pytest

from curation.cli import COMMANDS, build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0 and "usage: curation " + name in capsys.readouterr().out


def test_unknown_command_fails():
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["no-such-stage"])
    assert e.value.code == 2


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "curation.cli", "--help"], capture_output=True, text=True, check=True).stdout
    assert "sample-corpus" in out and "ingest" in out


def test_ingest_subcommand(tmp_path, media_factory, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.mp4").write_bytes(media_factory("cli_a.mp4", source="testsrc2", seconds=1.5).read_bytes())
    (raw / "b.mp4").write_bytes(b"")
    args = ["ingest", "--params", str(tmp_path / "none.yaml"), "--raw", str(raw), "--clips-dir", str(tmp_path / "clips"),
            "--clips-table", str(tmp_path / "c.parquet"), "--rejects-table", str(tmp_path / "r.parquet"),
            "--metrics-dir", str(tmp_path / "m"), "--workers", "1", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 videos, 1 accepted, 1 rejected (zero_length 1)" in out
    assert (tmp_path / "m" / "ingest.json").exists()
