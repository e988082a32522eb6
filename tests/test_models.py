"""Assembling packaged GGUF models from part packages: fake packages built in tmp_path,
plus a check that the real default model's parts are installed and add up."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import time
from pathlib import Path

import pytest

from rag import models
from rag.models import ModelCorrupt, ModelNotFound, PackagedModel, ensure_model


def _install_fake_parts(site: Path, stem: str, chunks: list[bytes], *, record: bool = True) -> None:
    """Write part packages the way pip lays them out: a package dir with data/partNN.bin
    and a dist-info whose RECORD lists it."""
    for i, data in enumerate(chunks, start=1):
        pkg = f"{stem.replace('-', '_')}{i}"
        part = site / pkg / "data" / f"part{i:02d}.bin"
        part.parent.mkdir(parents=True)
        (site / pkg / "__init__.py").write_text("")
        part.write_bytes(data)
        info = site / f"{pkg}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {stem}{i}\nVersion: 0.1.0\n")
        if record:
            (info / "RECORD").write_text(f"{pkg}/__init__.py,,\n{pkg}/data/part{i:02d}.bin,,{len(data)}\n")
    importlib.invalidate_caches()


def _payload(n: int = 3000, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return models.GGUF_MAGIC + bytes(rng.randrange(256) for _ in range(n - 4))


def _fake_model(stem: str, payload: bytes, parts: int, *, sha256: str | None | bool = True) -> PackagedModel:
    digest = hashlib.sha256(payload).hexdigest() if sha256 is True else sha256
    return PackagedModel(
        name=f"{stem}model",
        description="fake",
        packages=tuple(f"{stem}{i}" for i in range(1, parts + 1)),
        version="0.1.0",
        parts=tuple(f"data/part{i:02d}.bin" for i in range(1, parts + 1)),
        size=len(payload),
        sha256=digest,
    )


def _split(payload: bytes, parts: int) -> list[bytes]:
    step = -(-len(payload) // parts)
    return [payload[i : i + step] for i in range(0, len(payload), step)]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake three-part model installed on sys.path, and a cache dir for it."""
    payload = _payload()
    site = tmp_path / "site"
    _install_fake_parts(site, "fake-gguf-part", _split(payload, 3))
    monkeypatch.syspath_prepend(str(site))
    return _fake_model("fake-gguf-part", payload, 3), payload, site, tmp_path / "cache"


def test_parts_are_joined_in_order_into_the_cache(fake):
    model, payload, _, cache = fake
    path = ensure_model(model, cache=cache, progress=False)
    assert path == cache / "models" / "fake-gguf-partmodel.gguf"
    assert path.read_bytes() == payload
    marker = json.loads(path.with_name(path.name + ".verified.json").read_text())
    assert marker["sha256"] == model.sha256 and marker["size"] == len(payload)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".verified.json"]


def test_unchanged_cached_file_is_trusted_by_its_marker_but_a_touched_one_is_rehashed(fake):
    model, payload, _, cache = fake
    path = ensure_model(model, cache=cache, progress=False)
    st = path.stat()
    # Same size and mtime: the marker vouches for it, so the cheap check does not read it.
    damaged = bytearray(payload)
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ensure_model(model, cache=cache, progress=False).read_bytes() == bytes(damaged)
    # Any write that moves the mtime makes it hash the file again and rebuild it.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert ensure_model(model, cache=cache, progress=False).read_bytes() == payload


def test_cached_file_with_other_content_is_reassembled(fake):
    model, payload, _, cache = fake
    path = ensure_model(model, cache=cache, progress=False)
    path.write_bytes(payload[:-1] + b"\x00" if payload[-1] else payload[:-1] + b"\x01")
    assert ensure_model(model, cache=cache, progress=False).read_bytes() == payload


def test_corrupted_part_is_caught_by_the_hash_and_no_file_is_left(fake):
    model, payload, site, cache = fake
    part = site / "fake_gguf_part2" / "data" / "part02.bin"
    data = bytearray(part.read_bytes())
    data[7] ^= 0x01
    part.write_bytes(bytes(data))
    with pytest.raises(ModelCorrupt) as err:
        ensure_model(model, cache=cache, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "sha256" in msg
    assert "pip install --force-reinstall fake-gguf-part1==0.1.0 fake-gguf-part2==0.1.0" in msg
    assert list((cache / "models").iterdir()) == []


def test_missing_part_package_names_the_pip_command(fake):
    model, _, site, cache = fake
    for p in (site / "fake_gguf_part2-0.1.0.dist-info").iterdir():
        p.unlink()
    (site / "fake_gguf_part2-0.1.0.dist-info").rmdir()
    (site / "fake_gguf_part2" / "data" / "part02.bin").unlink()
    importlib.invalidate_caches()
    with pytest.raises(ModelNotFound) as err:
        ensure_model(model, cache=cache, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "missing fake-gguf-part2" in msg
    assert msg.endswith("pip install fake-gguf-part1==0.1.0 fake-gguf-part2==0.1.0 fake-gguf-part3==0.1.0")
    assert not (cache / "models" / "fake-gguf-partmodel.gguf").exists()


def test_parts_of_the_wrong_total_size_are_refused(fake):
    model, payload, _, cache = fake
    bigger = PackagedModel(**{**model.__dict__, "size": len(payload) + 1})
    with pytest.raises(ModelCorrupt, match="add up to 3000 bytes, expected 3001"):
        ensure_model(bigger, cache=cache, progress=False)


def test_parts_that_are_not_gguf_are_refused(tmp_path, monkeypatch):
    payload = b"NOPE" + _payload()[4:]
    _install_fake_parts(tmp_path / "site", "fake-nogguf-part", _split(payload, 2))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ModelCorrupt, match="not a GGUF file"):
        ensure_model(_fake_model("fake-nogguf-part", payload, 2), cache=tmp_path / "cache", progress=False)


def test_without_published_hash_the_first_hash_is_recorded_and_enforced(tmp_path, monkeypatch):
    payload = _payload(seed=2)
    _install_fake_parts(tmp_path / "site", "fake-nohash-part", _split(payload, 2))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = _fake_model("fake-nohash-part", payload, 2, sha256=None)
    cache = tmp_path / "cache"
    path = ensure_model(model, cache=cache, progress=False)
    recorded = json.loads(path.with_name(path.name + ".verified.json").read_text())["sha256"]
    assert recorded == hashlib.sha256(payload).hexdigest()
    path.write_bytes(models.GGUF_MAGIC + b"\x00" * (len(payload) - 4))  # same size, other bytes
    assert ensure_model(model, cache=cache, progress=False).read_bytes() == payload


def test_parts_are_found_without_a_record_file(tmp_path, monkeypatch):
    payload = _payload(seed=3)
    _install_fake_parts(tmp_path / "site", "fake-norecord-part", _split(payload, 2), record=False)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = ensure_model(_fake_model("fake-norecord-part", payload, 2), cache=tmp_path / "cache", progress=False)
    assert path.read_bytes() == payload


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ModelNotFound, match="known: qwen2.5-coder-0.5b, qwen2.5-coder-0.5b-q4_0, qwen2.5-coder-1.5b"):
        models.get_model("gpt-5")


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.cache_dir() == tmp_path / "home" / ".cache" / "llm-history-rag"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "xdg" / "llm-history-rag"
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "rag"))
    assert models.cache_dir() == tmp_path / "rag"


def test_default_model_parts_are_installed_and_add_up():
    default = models.get_model(models.DEFAULT_MODEL)
    model = models.get_model(default.base or default.name)  # the default is made from the shipped 0.5B
    parts = models.locate_parts(model)
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == model.size == 491_400_064
    assert parts[0].read_bytes()[:4] == models.GGUF_MAGIC


def test_the_default_models_second_is_installed_with_it():
    # fallback_llm = "auto" asks the 1.5B again after the default's unsupported answer: it
    # must come with the project, not with an extra the user may not have installed.
    second = models.get_model(models.second_model(models.DEFAULT_MODEL))
    parts = models.locate_parts(second)
    assert second.name == "qwen2.5-coder-1.5b" and len(parts) == 22
    assert sum(p.stat().st_size for p in parts) == second.size
    assert parts[0].read_bytes()[:4] == models.GGUF_MAGIC
    assert models.second_model("qwen2.5-coder-1.5b") == "" and models.second_model("other.gguf") == ""


def test_without_the_seconds_packages_the_default_asks_itself_again_and_says_how_to_install(monkeypatch, caplog):
    def missing(model):
        raise models.ModelNotFound(f"model '{model.name}' is not installed; run: {model.pip_command()}")

    monkeypatch.setattr(models, "locate_parts", missing)
    monkeypatch.setattr(models, "_WARNED", set())
    with caplog.at_level("WARNING", logger="rag.models"):
        assert models.second_model(models.DEFAULT_MODEL) == ""
        assert models.second_model(models.DEFAULT_MODEL) == ""  # the page's model list asks once per report
    assert "pip install" in caplog.text and "answers again itself" in caplog.text
    assert len(caplog.records) == 1


@pytest.fixture
def requant(fake, monkeypatch):
    """A re-quantised entry made from the fake model by a fake quantiser that records its calls."""
    base, payload, _, cache = fake
    made = models.GGUF_MAGIC + payload[4:][::-1]
    calls = []

    def quantize(source, dest, file_type, **_):
        calls.append((Path(source).name, file_type))
        Path(dest).write_bytes(made)

    monkeypatch.setattr("rag.llamacpp.quantize_gguf", quantize)
    monkeypatch.setattr(models, "_llama_cpp_version", lambda: "9.9.9")
    monkeypatch.setitem(models.REGISTRY, base.name, base)
    model = models._requantized(
        "fake-q4_0", "fake", base, "Q4_0", "9.9.9", len(made), hashlib.sha256(made).hexdigest()
    )
    return model, made, calls, cache


def test_requantized_model_is_made_from_its_base_once_and_trusted_after(requant):
    model, made, calls, cache = requant
    path = ensure_model(model, cache=cache, progress=False)
    assert path.read_bytes() == made and calls == [("fake-gguf-partmodel.gguf", "Q4_0")]
    assert ensure_model(model, cache=cache, progress=False) == path
    assert len(calls) == 1
    path.write_bytes(made[:-1] + b"x")  # damaged: made again
    assert ensure_model(model, cache=cache, progress=False).read_bytes() == made
    assert len(calls) == 2


def test_requantized_file_with_the_wrong_hash_is_refused_and_not_kept(requant):
    model, _, _, cache = requant
    wrong = PackagedModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelCorrupt, match="re-quantised from 'fake-gguf-partmodel'.*pip install --force-reinstall"):
        ensure_model(wrong, cache=cache, progress=False)
    assert [p.name for p in (cache / "models").iterdir() if "fake-q4_0" in p.name] == []


def test_requantized_by_another_llama_cpp_records_its_own_hash(requant, monkeypatch, caplog):
    model, made, calls, cache = requant
    monkeypatch.setattr(models, "_llama_cpp_version", lambda: "1.0.0")
    other = PackagedModel(**{**model.__dict__, "size": 1, "sha256": "0" * 64})  # pins for 9.9.9 only
    with caplog.at_level("WARNING", logger="rag.models"):
        path = ensure_model(other, cache=cache, progress=False)
    assert path.read_bytes() == made and "the pinned hash is for 9.9.9" in caplog.text
    marker = json.loads(path.with_name(path.name + ".verified.json").read_text())
    assert marker["sha256"] == hashlib.sha256(made).hexdigest()
    path.write_bytes(made[:-1] + b"x")
    os.utime(path, ns=(1, 1))
    ensure_model(other, cache=cache, progress=False)  # the recorded hash catches the change
    assert len(calls) == 2 and path.read_bytes() == made


def test_requantized_models_share_their_base_models_parts():
    for model in models.REGISTRY.values():
        if model.requantize:
            base = models.get_model(model.base)
            assert (model.packages, model.parts, model.base) == (base.packages, base.parts, base.name)


def test_a_temp_file_left_by_a_killed_assembly_is_deleted_but_a_fresh_one_is_not(fake):
    model, payload, _, cache = fake
    folder = cache / "models"
    folder.mkdir(parents=True)
    old = folder / ".fake-gguf-partmodel.gguf.killed1.tmp"
    fresh = folder / ".fake-gguf-partmodel.gguf.running.tmp"
    other = folder / ".another.gguf.killed2.tmp"
    for leftover in (old, fresh, other):
        leftover.write_bytes(b"GGUF half written")
    two_hours_ago = time.time() - 7200
    for leftover in (old, other):
        os.utime(leftover, (two_hours_ago, two_hours_ago))
    assert ensure_model(model, cache=cache, progress=False).read_bytes() == payload
    assert not old.exists()
    assert fresh.exists()  # another process may be writing it now
    assert other.exists()  # another model's: its own assembly decides
