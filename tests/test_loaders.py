"""Tests for ingest.loaders: text decoding, HTML, markdown and PDF extraction and failures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.loaders import (
    SUPPORTED_SUFFIXES,
    UnreadableFile,
    html_to_text,
    load_file,
    looks_garbled,
    meaningful_pdf_title,
    readable_ratio,
)
from ingest.loaders import _reading_order, _table_rows

PAPERS = Path(__file__).resolve().parent.parent.parent / "shared" / "papers"
ZH_SURVEY = PAPERS / "2303.18223-zh.pdf"


def make_pdf(pages: list[str | list[str]], title: str | None = None) -> bytes:
    """A minimal PDF with one Helvetica text line per page (or, for a page given as a list,
    one line per entry, 14 points apart), xref offsets computed."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        shown = text if isinstance(text, str) else ") Tj 0 -14 Td (".join(text)
        stream = f"BT /F1 12 Tf 72 720 Td ({shown}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    info = f"<< /Title ({title}) >>" if title else None
    if info:
        objects.append(info)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    trailer = f"/Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {len(objects)} 0 R" if info else "")
    out += f"trailer\n<< {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- text files ---


@pytest.mark.parametrize(
    "data",
    [
        "大语言模型的发展。".encode("utf-8"),
        "\ufeff大语言模型的发展。".encode("utf-8"),
        "大语言模型的发展。".encode("gb18030"),
        "大语言模型的发展。".encode("utf-16"),
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "utf-16-bom"],
)
def test_chinese_text_in_common_encodings(tmp_path, data):
    raw = load_file(_write(tmp_path, "a.txt", data))
    assert raw.pages == ("大语言模型的发展。",)
    assert (raw.extractor, raw.title) == ("text", None)
    assert raw.sha256 == hashlib.sha256(data).hexdigest()


def test_a_few_bad_bytes_do_not_fail_the_file(tmp_path):
    data = ("正文。" * 400).encode("utf-8") + b"\xff" + "结尾。".encode("utf-8")
    (page,) = load_file(_write(tmp_path, "a.txt", data)).pages
    assert page.startswith("正文。") and page.endswith("结尾。")


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary\x00", bytes(range(128, 256)) * 20])
def test_binary_files_are_unreadable(tmp_path, data):
    with pytest.raises(UnreadableFile, match="a.txt"):
        load_file(_write(tmp_path, "a.txt", data))


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(UnreadableFile, match="unsupported file type .docx"):
        load_file(_write(tmp_path, "a.docx", b"x"))
    with pytest.raises(UnreadableFile, match="cannot read"):
        load_file(tmp_path / "missing.txt")
    assert SUPPORTED_SUFFIXES == (".txt", ".md", ".html", ".htm", ".pdf")


def test_markdown_title_from_first_heading(tmp_path):
    raw = load_file(_write(tmp_path, "a.md", "intro\n\n# 大模型简史\n\n## 起源\n正文".encode()))
    assert (raw.extractor, raw.title) == ("markdown", "大模型简史")
    assert raw.pages == ("intro\n\n# 大模型简史\n\n## 起源\n正文",)


# --- HTML ---

HTML = """<!doctype html><html><head><meta charset="gb2312"><title> LLM 发展史 </title>
<style>p { color: red }</style><script>var x = "不要我";</script></head>
<body><nav><a href="/">首页</a> | <a href="/x">归档</a></nav>
<h1>大语言模型</h1><p>第一段
  换行不是段落。</p><div>第二段 &amp; 实体</div><ul><li>一</li><li>二</li></ul>
<pre>code  keeps
  spacing</pre><footer>版权所有</footer></body></html>"""


def test_html_keeps_blocks_and_drops_scripts_styles_and_navigation(tmp_path):
    raw = load_file(_write(tmp_path, "a.html", HTML.encode("gb18030")))
    assert raw.extractor == "html"
    assert raw.title == "LLM 发展史"
    (page,) = raw.pages
    lines = [line.strip() for line in page.split("\n") if line.strip()]
    assert lines == ["大语言模型", "第一段 换行不是段落。", "第二段 & 实体", "一", "二", "code  keeps", "spacing"]
    assert "code  keeps\n  spacing" in page


def test_html_declared_charset_is_used_unless_the_bytes_are_utf8(tmp_path):
    page = '<meta charset="windows-1252"><title>x</title><p>{}</p>'
    raw = load_file(_write(tmp_path, "a.htm", page.format("café").encode("cp1252")))
    assert "café" in raw.pages[0]
    raw = load_file(_write(tmp_path, "b.htm", page.format("大语言模型").encode("utf-8")))
    assert "大语言模型" in raw.pages[0]


def test_html_title_falls_back_to_h1():
    text, title = html_to_text("<body><h1>标题</h1><p>x</p></body>")
    assert (text.split(), title) == (["标题", "x"], "标题")
    assert html_to_text("<p>x")[1] is None


# --- PDF ---


def test_pdf_pages_via_pypdf(tmp_path):
    raw = load_file(_write(tmp_path, "a.pdf", make_pdf(["Attention is all you need", "Second page"])))
    assert raw.extractor == "pypdf"
    assert [p.strip() for p in raw.pages] == ["Attention is all you need", "Second page"]
    assert raw.title is None


def test_pdf_title_from_meaningful_metadata(tmp_path):
    raw = load_file(_write(tmp_path, "a.pdf", make_pdf(["x"], title="Attention Is All You Need")))
    assert raw.title == "Attention Is All You Need"
    raw = load_file(_write(tmp_path, "b.pdf", make_pdf(["x"], title="countries.capitals.projections.eps")))
    assert raw.title is None


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Attention Is All You Need", "Attention Is All You Need"),
        ("Microsoft Word - Final paper draft.docx", None),
        ("Microsoft Word - Final paper draft", "Final paper draft"),
        ("paper_v3", None),
        ("大语言模型综述", "大语言模型综述"),
        ("untitled", None),
        ("", None),
        (None, None),
    ],
)
def test_meaningful_pdf_title(title, expected):
    assert meaningful_pdf_title(title) == expected


def test_corrupt_pdf_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFile, match="not a readable PDF"):
        load_file(_write(tmp_path, "a.pdf", b"%PDF-1.4\nthis is not really a pdf\n"))
    truncated = make_pdf(["hello"])[:60]
    with pytest.raises(UnreadableFile, match="a.pdf"):
        load_file(_write(tmp_path, "a.pdf", truncated))


def test_pdf_without_pages_is_unreadable(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    path = tmp_path / "empty.pdf"
    with path.open("wb") as out:
        pypdf.PdfWriter().write(out)
    with pytest.raises(UnreadableFile, match="no pages"):
        load_file(path)


def test_encrypted_pdf_is_unreadable(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(_write(tmp_path, "plain.pdf", make_pdf(["secret"]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "locked.pdf"
    with path.open("wb") as out:
        writer.write(out)
    with pytest.raises(UnreadableFile, match="encrypted PDF"):
        load_file(path)


def test_pdf_without_text_is_unreadable(tmp_path):
    with pytest.raises(UnreadableFile, match="no text layer"):
        load_file(_write(tmp_path, "scan.pdf", make_pdf([""])))


# --- garbage detection ---

PYPDF_GARBAGE = "܂ࣇଽ҆࿐༝\u0d50Ⴈ Ч໓෮Ⴕ໓ሳa\u0e6dோaі۬ϱಃູ RUC AI Box ෮Ⴕđԛϱؿі\u0d50Ⴈླ\u0c70сྶᆘ֤Ч໓ቔᆀ\u0e5dၩb 2 ᆃ၂ٓൔđၘࡹࣜ৫ਔնਈܱႿ"


@pytest.mark.parametrize(
    ("text", "garbled"),
    [
        (PYPDF_GARBAGE, True),  # what pypdf returns for the Chinese survey
        ("\ue000\ue001\ue002" * 30, True),  # private-use glyph codes
        ("\x01\x02\x03\x04\x05\x06\x07\x08" * 10, True),  # control characters
        ("大语言模型(LLM)是一种大规模预训练神经网络语言模型。" * 3, False),
        ("We introduce a new language representation model called BERT, which stands for ...", False),
        ("Σ α β γ ∈ ℝ (Eq. 3): the softmax of QK^T / √d_k gives attention weights.", False),
        ("ۂ", False),  # too short to judge
    ],
)
def test_looks_garbled(text, garbled):
    assert looks_garbled(text) is garbled


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_readable_ratio_is_a_share(text):
    assert 0.0 <= readable_ratio(text) <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="大语言模型的发展经历了多个阶段。abcdefgXYZ ,.0123456789()", min_size=50))
def test_real_chinese_and_english_is_never_garbled(text):
    assert not looks_garbled(text)


def test_pdfminer_table_cells_on_one_height_are_read_as_one_row():
    # pdfminer gives each cell of a table without ruling lines as a line of its own:
    # (x0, x1, bottom, top, text) as the Chinese survey's Table 1 comes out.
    width = 612.0
    cells = [
        (84, 107, 596, 603, "GPT-3 [55]"), (163, 226, 596, 603, "2020 年 05 月 175"), (250, 252, 596, 603, "-"),
        (321, 364, 596, 603, "3000 亿 tokens"), (522, 528, 597, 604, "✓"),
        (84, 107, 585, 593, "PaLM [56]"), (163, 226, 585, 593, "2022 年 04 月 540"), (321, 364, 585, 593, "7800 亿 tokens"),
    ]
    # Prose in two columns: two wide lines at each height, which stay apart.
    columns = [(48, 296, 500, 508, "语言是人类表达和交流的突出能力,"), (316, 564, 500, 508, "基于 Transformer 的预训练语言模型"),
               (48, 296, 488, 496, "它在儿童早期发展"), (316, 564, 488, 496, "在大规模语料上预训练")]
    caption = [(298, 314, 694, 703, "表 1"), (48, 564, 683, 691, "近年来 LLM 的统计数据。")]

    def read(lines):
        return _reading_order(_table_rows(lines, width), width)

    page = read(caption + cells + columns)
    assert "GPT-3 [55] 2020 年 05 月 175 - 3000 亿 tokens ✓" in page
    assert "PaLM [56] 2022 年 04 月 540 7800 亿 tokens" in page
    assert page[-4:] == ["语言是人类表达和交流的突出能力,", "它在儿童早期发展", "基于 Transformer 的预训练语言模型", "在大规模语料上预训练"]
    # Without a table caption on the page nothing is joined.
    assert "GPT-3 [55]" in read(cells + columns)


# --- the real Chinese survey (only where ../shared/papers exists) ---


@pytest.mark.skipif(not ZH_SURVEY.exists(), reason=f"{ZH_SURVEY} not available")
def test_chinese_survey_falls_back_to_pdfminer(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    # The first three pages keep the test fast; they carry the same fonts as the rest.
    writer = pypdf.PdfWriter()
    for page in pypdf.PdfReader(ZH_SURVEY).pages[:3]:
        writer.add_page(page)
    path = tmp_path / "zh-survey-3-pages.pdf"
    with path.open("wb") as out:
        writer.write(out)
    raw = load_file(path)
    assert raw.extractor == "pdfminer"
    assert len(raw.pages) == 3
    assert "大语言模型综述" in raw.pages[0]
    assert "语言建模" in raw.pages[0] and "预训练语言模型" in raw.pages[0]
    assert not looks_garbled("".join(raw.pages))
    # Two-column pages read column by column: a sentence that wraps inside the left
    # column continues on the next line.
    assert "语言是人类表达和交流的突出能力\uff0c它在儿童早期发展\n并在一生中不断演变" in raw.pages[0]


@pytest.mark.skipif(not ZH_SURVEY.exists(), reason=f"{ZH_SURVEY} not available")
def test_chinese_survey_table_rows_are_read_whole(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_page(pypdf.PdfReader(ZH_SURVEY).pages[7])  # Table 1: the LLMs' statistics
    path = tmp_path / "zh-survey-table-1.pdf"
    with path.open("wb") as out:
        writer.write(out)
    lines = load_file(path).pages[0].splitlines()
    assert "GPT-3 [55] 2020 年 05 月 175 - - - 3000 亿 tokens - - - ✓ -" in lines
    assert "PaLM [56] 2022 年 04 月 540 - - - 7800 亿 tokens - 6144 TPU v4 - ✓ ✓" in lines
