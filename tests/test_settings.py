import pytest

from rag.settings import Settings, SettingsError, describe, load_settings


def test_layers_override_in_order(tmp_path):
    cfg = tmp_path / "rag.toml"
    cfg.write_text('top_k = 7\nllm = "from-file"\npassage_budget = 600\n')
    env = {"RAG_LLM": "from-env", "RAG_PASSAGE_BUDGET": "900"}
    s, origin = load_settings({"passage_budget": 1000, "device": None}, config_file=cfg, environ=env)
    assert (s.top_k, s.llm, s.passage_budget) == (7, "from-env", 1000)
    assert origin["top_k"].startswith("config file")
    assert origin["llm"] == "environment RAG_LLM"
    assert origin["passage_budget"] == "command line"
    assert origin["device"] == "default"
    assert "passage_budget" in describe(s, origin)


def test_bad_values_are_one_line_errors(tmp_path):
    with pytest.raises(SettingsError, match="RAG_TOP_K"):
        load_settings(environ={"RAG_TOP_K": "many"})
    cfg = tmp_path / "rag.toml"
    cfg.write_text("topk = 3\n")
    with pytest.raises(SettingsError, match="unknown setting 'topk'"):
        load_settings(config_file=cfg, environ={})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.toml", environ={})
    with pytest.raises(SettingsError, match="top_k"):
        load_settings({"top_k": 0}, environ={})


def test_defaults_are_frozen():
    s = Settings()
    with pytest.raises(Exception):
        s.top_k = 3  # type: ignore[misc]


def test_a_switch_reads_true_and_false_from_every_layer(tmp_path):
    from rag.settings import SettingsError, load_settings

    assert load_settings({"fast": True}, environ={})[0].fast is True
    assert load_settings({}, environ={"RAG_FAST": "0"})[0].fast is False
    assert load_settings({}, environ={"RAG_FAST": "yes"})[0].fast is True
    config = tmp_path / "rag.toml"
    config.write_text("fast = true\n", encoding="utf-8")
    assert load_settings({}, config_file=config, environ={})[0].fast is True
    with pytest.raises(SettingsError):
        load_settings({}, environ={"RAG_FAST": "maybe"})
