"""Tests for rag.catalog: the model menu, its measurements and the one-model-in-memory rule."""

from __future__ import annotations

import json
from pathlib import Path

from rag import catalog


def _report(reports: Path, name: str, *, llm: str, split: str = "test", mode: str = "full",
            timestamp: str = "2026-02-01T10:00:00+00:00", first_token: float = 4.2, accuracy: float = 0.61,
            fast: bool = False, **ran) -> None:
    folder = reports / name
    folder.mkdir(parents=True)
    data = {
        "meta": {"mode": mode, "split": split, "timestamp": timestamp, "model": {"llm": llm, "model": {"model": llm}},
                 "settings": {"llm": llm, "fast": fast, **ran}},
        "totals": {"first_token_s_p50": first_token, "accuracy": accuracy, "scored": 41},
        "rows": [],
    }
    (folder / "report.json").write_text(json.dumps(data), encoding="utf-8")


def test_the_newest_full_test_run_of_the_model_is_shown(tmp_path):
    _report(tmp_path, "a", llm="qwen2.5-coder-0.5b", timestamp="2026-01-01T00:00:00+00:00", first_token=9.0)
    _report(tmp_path, "b", llm="qwen2.5-coder-0.5b", timestamp="2026-03-01T00:00:00+00:00", first_token=3.4)
    _report(tmp_path, "c", llm="qwen2.5-coder-0.5b", split="dev", timestamp="2026-04-01T00:00:00+00:00")
    _report(tmp_path, "d", llm="qwen2.5-coder-0.5b", split="test, first 10", timestamp="2026-04-02T00:00:00+00:00")
    _report(tmp_path, "e", llm="qwen2.5-coder-0.5b", mode="retrieval", timestamp="2026-04-03T00:00:00+00:00")
    _report(tmp_path, "f", llm="qwen2.5-coder-1.5b", timestamp="2026-05-01T00:00:00+00:00", first_token=8.0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "report.json").write_text("{", encoding="utf-8")
    measured = catalog.newest_test_run(tmp_path, "qwen2.5-coder-0.5b")
    assert measured is not None and measured.first_token_s == 3.4 and measured.report.endswith("b")
    label = catalog.ModelChoice("qwen2.5-coder-0.5b", "Qwen 0.5B", measured).label()
    assert "first word ~3.4 s" in label and "test accuracy 61% of 41" in label


def test_side_by_side_reports_count_and_fast_runs_do_not(tmp_path):
    _report(tmp_path, "frontier/default", llm="qwen2.5-coder-1.5b", timestamp="2026-06-01T00:00:00+00:00",
            first_token=8.8)
    # answered by fast_llm, though the assistant's own model is the 1.5B: not the 1.5B's numbers
    _report(tmp_path, "frontier/fast", llm="qwen2.5-coder-1.5b", timestamp="2026-06-02T00:00:00+00:00",
            first_token=4.1, fast=True)
    measured = catalog.newest_test_run(tmp_path, "qwen2.5-coder-1.5b")
    assert measured is not None and measured.first_token_s == 8.8 and measured.report.endswith("default")


def test_a_run_with_other_answering_settings_does_not_stand_for_the_model(tmp_path):
    """The page answers with the settings in force: a newer run of the same model on other
    evidence measured another assistant, not this one."""
    _report(tmp_path, "frontier/1.5b", llm="qwen2.5-coder-1.5b", timestamp="2026-06-01T00:00:00+00:00",
            first_token=5.9, evidence_chars=0, top_k=5)
    _report(tmp_path, "frontier/1.5b-ev400", llm="qwen2.5-coder-1.5b", timestamp="2026-06-01T00:00:01+00:00",
            first_token=2.5, evidence_chars=400, top_k=5)
    like = {"llm": "qwen2.5-coder-0.5b", "evidence_chars": 0, "top_k": 5, "host": "0.0.0.0"}
    measured = catalog.newest_test_run(tmp_path, "qwen2.5-coder-1.5b", like)
    assert measured is not None and measured.first_token_s == 5.9 and measured.report.endswith("1.5b")
    assert catalog.newest_test_run(tmp_path, "qwen2.5-coder-1.5b", {**like, "evidence_chars": 400}).first_token_s == 2.5
    assert catalog.newest_test_run(tmp_path, "qwen2.5-coder-1.5b", {**like, "top_k": 8}) is None
    # without settings to match, the newest run counts, as before
    assert catalog.newest_test_run(tmp_path, "qwen2.5-coder-1.5b").first_token_s == 2.5


def test_a_run_naming_the_second_model_stands_for_auto_and_a_run_without_it_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog.models, "second_model", lambda llm: {"qwen2.5-coder-0.5b": "qwen2.5-coder-1.5b"}.get(llm, ""))
    _report(tmp_path, "old/0.5b-alone", llm="qwen2.5-coder-0.5b", timestamp="2026-06-01T00:00:01+00:00",
            first_token=3.3, fallback_llm="")
    _report(tmp_path, "old/fb15", llm="qwen2.5-coder-0.5b", timestamp="2026-06-01T00:00:00+00:00",
            first_token=3.2, fallback_llm="qwen2.5-coder-1.5b")
    _report(tmp_path, "old/1.5b", llm="qwen2.5-coder-1.5b", first_token=8.0, fallback_llm="")
    like = {"llm": "qwen2.5-coder-0.5b", "fallback_llm": "auto"}
    assert catalog.newest_test_run(tmp_path, "qwen2.5-coder-0.5b", like).report.endswith("fb15")
    # "auto" gives the 1.5B no second model: a run where it asked itself again is its own
    assert catalog.newest_test_run(tmp_path, "qwen2.5-coder-1.5b", like).first_token_s == 8.0
    assert catalog.newest_test_run(tmp_path, "qwen2.5-coder-0.5b", {**like, "fallback_llm": ""}).first_token_s == 3.3


def test_an_unmeasured_model_says_so_instead_of_a_number(tmp_path):
    assert catalog.newest_test_run(tmp_path / "no-reports", "x.gguf") is None
    label = catalog.ModelChoice("x.gguf", "named by --llm").label()
    assert "first word: not measured" in label and "test accuracy: not measured" in label


def test_the_menu_has_the_installed_packaged_models_and_the_llm_flag(monkeypatch, tmp_path):
    installed = {"qwen2.5-coder-0.5b"}

    def locate(model):
        if model.name not in installed:
            raise catalog.models.ModelNotFound(model.name)
        return []

    monkeypatch.setattr(catalog.models, "locate_parts", locate)
    assert catalog.installed_models(["my-model.gguf"]) == ["qwen2.5-coder-0.5b", "my-model.gguf"]
    installed.add("qwen2.5-coder-1.5b")
    specs = [c.spec for c in catalog.model_choices("qwen2.5-coder-0.5b", tmp_path)]
    assert specs == ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


def test_a_second_model_is_kept_only_when_memory_allows(monkeypatch):
    monkeypatch.setattr("rag.generate.loaded_models", lambda: [])
    size = catalog.models.REGISTRY["qwen2.5-coder-1.5b"].size
    assert catalog.fits_beside("qwen2.5-coder-1.5b", available=16 * 1024**3)
    assert not catalog.fits_beside("qwen2.5-coder-1.5b", available=size)
    assert not catalog.fits_beside("openai:http://x#m", available=64 * 1024**3)  # size unknown


def test_the_models_asked_for_are_weighed_together_except_those_already_in_memory(monkeypatch):
    small, large = (catalog.models.REGISTRY[name].size for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"))
    both = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    room = int(large * 1.3) + 1024**3 + 1  # the 1.5B alone fits, both do not
    monkeypatch.setattr("rag.generate.loaded_models", lambda: [])
    assert catalog.fits_beside("qwen2.5-coder-1.5b", available=room)
    assert not catalog.fits_beside(both, available=room)
    monkeypatch.setattr("rag.generate.loaded_models", lambda: ["qwen2.5-coder-0.5b"])
    assert catalog.fits_beside(both, available=room)  # the 0.5B's memory is already taken
    assert small < large


class _Current:
    """An assistant whose switched copy answers with ``llm`` and, for the 0.5B, asks the 1.5B again."""

    def replaced(self, *, llm):
        return _Switched(llm)


class _Switched:
    def __init__(self, llm):
        self.llm = llm

    def model_specs(self):
        return (self.llm, "qwen2.5-coder-1.5b") if self.llm == "qwen2.5-coder-0.5b" else (self.llm,)


def test_switching_frees_the_other_models_when_those_asked_for_do_not_fit(monkeypatch):
    released = []
    monkeypatch.setattr("rag.generate.loaded_models", lambda: [])
    monkeypatch.setattr(catalog, "available_memory", lambda: 1024)
    monkeypatch.setattr("rag.generate.release_generators", lambda *keep: released.append(keep) or ["old"])
    assert catalog.assistant_with_model(_Current(), "qwen2.5-coder-1.5b").llm == "qwen2.5-coder-1.5b"
    assert released == [("qwen2.5-coder-1.5b",)]
    # back to the default: its second model is kept, not freed and loaded again
    catalog.assistant_with_model(_Current(), "qwen2.5-coder-0.5b")
    assert released[-1] == ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    monkeypatch.setattr(catalog, "available_memory", lambda: 64 * 1024**3)
    catalog.assistant_with_model(_Current(), "qwen2.5-coder-0.5b")
    assert len(released) == 2  # they fit: nothing freed
