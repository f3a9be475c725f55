"""`job provenance PATH...`: what wrote an output, read from its metadata."""

from cadenza.devtools.jobctl import main
from cadenza.runtime.storage import write_atomically


def test_prints_each_outputs_provenance_and_names_the_ones_without(tmp_path, capsys):
    output = tmp_path / "t1.json"
    record = {"job": "describe", "job_version": "4", "trace_id": "abc123"}
    write_atomically(str(output), b"{}", overwrite=False, provenance=record)
    stranger = tmp_path / "stranger.json"
    stranger.write_text("{}")

    assert main(["--stack-root", str(tmp_path / "stack"), "provenance", str(output)]) == 0
    printed = capsys.readouterr().out
    assert str(output) in printed and '"job": "describe"' in printed and "abc123" in printed

    code = main(["--stack-root", str(tmp_path / "stack"), "provenance", str(output), str(stranger)])
    printed = capsys.readouterr().out
    assert code == 1
    assert f"{stranger}: no provenance recorded" in printed and '"job_version": "4"' in printed


def test_gs_paths_need_the_local_stack(tmp_path, capsys):
    code = main(["--stack-root", str(tmp_path / "stack"), "provenance", "gs://b/x.json"])
    assert code == 1
    assert "local stack" in capsys.readouterr().out
