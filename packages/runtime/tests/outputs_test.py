"""json_outputs: the documents a job wrote, without sidecars or other JSON in the folder."""

import json

from cadenza.runtime.outputs import json_outputs
from cadenza.runtime.storage import PROVENANCE_SUFFIX


def test_documents_with_the_key_sorted_sidecars_and_others_left_out(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps({"track": "b", "n": 2}))
    (tmp_path / "a.json").write_text(json.dumps({"track": "a", "n": 1}))
    (tmp_path / f"a.json{PROVENANCE_SUFFIX}").write_text(json.dumps({"track": "sidecar"}))
    (tmp_path / "other.json").write_text(json.dumps({"unrelated": True}))
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "dead_letter").mkdir()
    (tmp_path / "dead_letter" / "x.json").write_text(json.dumps({"track": "dead"}))
    found = json_outputs(str(tmp_path), required_key="track", sort_by="track")
    assert found == [{"track": "a", "n": 1}, {"track": "b", "n": 2}]


def test_an_empty_or_missing_folder_has_no_documents(tmp_path):
    assert json_outputs(str(tmp_path), required_key="track", sort_by="track") == []
    assert json_outputs(str(tmp_path / "nowhere"), required_key="track", sort_by="track") == []
