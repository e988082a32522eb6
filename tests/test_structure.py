"""Tables and bibliographies: found at ingest, kept with their caption and header, marked."""

from pathlib import Path

from ingest.chunk import chunk_document
from ingest.clean import clean_text
from ingest.documents import ChunkerSettings, Document, Page
from ingest.loaders import load_file
from ingest.structure import find_tables, is_bibliography
from tests.test_loaders import make_pdf

PAGE = [
    "Training used a large cluster, as the following table lists for each model.",
    "Table 1: Hardware used to train each model in this survey.",
    "Model Release Size Hardware",
    "Gopher Dec-2021 280 4096 TPU v3",
    "GLaM Dec-2021 1200 1024 TPU v4",
    "PaLM Apr-2022 540 6144 TPU v4",
    "OPT May-2022 175 992 A100",
    "We now turn to the data these models were trained on, which matters as much as the hardware did.",
]


def _paper(text: str) -> Document:
    return Document(doc_id="p", title="P", text=text, source="p.pdf", sha256="0", lang="en", kind="paper",
                    extractor="pypdf", pages=(Page(2, 0, len(text)),))


def test_a_pdf_table_row_is_chunked_with_its_caption_and_header(tmp_path: Path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(make_pdf([PAGE]))
    text = clean_text(load_file(path).pages[0])
    chunks = chunk_document(_paper(text), ChunkerSettings(size=60, overlap=0))
    palm = [c for c in chunks if "PaLM" in c.text]
    assert len(palm) == 1 and palm[0].role == "table"
    # The row group alone says nothing of chips; with its caption and header it does.
    assert "Table 1: Hardware used to train each model" in palm[0].search_text
    assert "Model Release Size Hardware" in palm[0].search_text
    assert "6144 TPU v4" in palm[0].text and text[palm[0].start : palm[0].end] == palm[0].text
    # The prose around the table is not part of it.
    prose = [c for c in chunks if "turn to the data" in c.text]
    assert prose and prose[0].role == "text" and prose[0].context is None


def test_a_caption_under_its_table_takes_the_rows_above_it():
    text = "\n".join([
        "Method Time Accuracy",
        "NEG-5 38 59",
        "NEG-15 97 61",
        "HS-Huffman 41 47",
        "Table 1: Accuracy of various Skip-gram models on the analogy task.",
        "As the table shows, negative sampling outperforms the hierarchical softmax on this task overall.",
    ])
    [table] = find_tables(text)
    assert text[table.start : table.end].splitlines() == ["Method Time Accuracy", "NEG-5 38 59", "NEG-15 97 61", "HS-Huffman 41 47"]
    assert table.caption.startswith("Table 1: Accuracy") and table.header == "Method Time Accuracy"


def test_a_caption_without_a_full_stop_ends_at_the_first_row():
    text = "\n".join([
        "Table 12: Labeler demographic data",
        "What gender do you identify as?",
        "Male 50.0%",
        "Female 44.4%",
        "What is your nationality?",
        "Indigenous / Native American / Alaskan Native 0.0%",
        "Filipino 22%",
        "Bangladeshi 22%",
        "American 17%",
        "We collected these answers in a voluntary, anonymous survey of the labelers we hired for the project.",
    ])
    [table] = find_tables(text)
    assert table.caption == "Table 12: Labeler demographic data What gender do you identify as?"
    rows = text[table.start : table.end].splitlines()
    # The rows no longer hide in the caption, and a survey's questions and long labels
    # with one value stay among them.
    assert rows[0] == "Male 50.0%" and "What is your nationality?" in rows and rows[-1] == "American 17%"


def test_a_wrapped_caption_keeps_its_long_lines():
    text = "\n".join([
        "Table 4: The Transformer generalizes well to English constituency parsing, trained on 40K",
        "sentences of the Wall Street Journal portion of the Penn Treebank (results on Section 23 of WSJ)",
        "Parser Training WSJ 23 F1",
        "Vinyals & Kaiser (2014) WSJ only 88.3",
        "Transformer (4 layers) WSJ only 91.3",
    ])
    [table] = find_tables(text)
    # The wrapped line has numbers too ("40K", "23"), but it is long: still the caption.
    assert table.caption.endswith("Penn Treebank (results on Section 23 of WSJ)")
    assert table.header == "Parser Training WSJ 23 F1"


def test_a_table_mentioned_in_prose_is_no_table():
    text = (
        "The results are summarized in Table 3 and discussed below in more detail for each of the models.\n"
        "Our best model reaches the highest accuracy of all the models we compared in these experiments."
    )
    assert find_tables(text) == []


def test_reference_lists_are_marked_and_prose_that_cites_is_not():
    reading_list = (
        "• Attention is all you need, NeurIPS 2017. Paper • BERT: Pre-training of deep bidirectional "
        "transformers, NAACL 2019. Paper • Language models are few-shot learners, NeurIPS 2020. Paper • "
        "Training language models to follow instructions, arXiv 2022. Paper"
    )
    prose = (
        "The Transformer (Vaswani et al., 2017) replaced recurrence with attention, and BERT built on it "
        "to pre-train bidirectional encoders that many later systems fine-tuned for their own tasks."
    )
    assert is_bibliography(reading_list)
    assert not is_bibliography(prose)
    assert is_bibliography("Alammar, J. The illustrated transformer.", section="References")
    chunks = chunk_document(_paper(reading_list + "\n\n" + prose), ChunkerSettings(size=300, overlap=0))
    assert [c.role for c in chunks] == ["references", "text"]


def test_table_rows_with_dates_are_not_a_bibliography():
    # The Chinese survey's Table 1, read row by row: a year in every row is as dense in
    # "citation years" as a reference list, but each line is mostly cells.
    rows = (
        "GPT-3 [55] 2020 年 05 月 175 - - - 3000 亿 tokens - - - ✓ -\n"
        "GShard [102] 2020 年 06 月 600 - - - 1 万亿 tokens - 2048 TPU v3 4 天 - -\n"
        "Codex [78] 2021 年 07 月 12 GPT-3 - - 1000 亿 tokens 2020 年 05 月 - - ✓ -\n"
        "ERNIE 3.0 [103] 2021 年 07 月 10 - - - 3750 亿 tokens - 384 V100 - ✓ -\n"
        "PaLM [56] 2022 年 04 月 540 - - - 7800 亿 tokens - 6144 TPU v4 - ✓ ✓"
    )
    entries = (
        "[55] T. B. Brown, B. Mann, N. Ryder et al., Language models are few-shot learners, NeurIPS 2020.\n"
        "[56] A. Chowdhery, S. Narang, J. Devlin et al., PaLM: Scaling language modeling with pathways, arXiv 2022.\n"
        "[57] H. Touvron, T. Lavril, G. Izacard et al., LLaMA: Open and efficient foundation language models, arXiv 2023."
    )
    assert not is_bibliography(rows)
    assert is_bibliography(entries)


def test_a_reading_list_under_a_heading_is_marked_though_sparse_in_marks():
    # One year and one "Paper" per item: too few marks per character for the density
    # test, yet every item cites.
    reading_list = (
        "BERT风格的语言模型:编码器-解码器或仅编码器(Encoder-Decoder or Encoder-only)\n\n"
        "• BERT BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding, 2018, Paper\n"
        "• RoBERTa ALBERT: A Lite BERT for Self-supervised Learning of Language Representations, 2019, Paper\n"
        "• DistilBERT DistilBERT, a distilled version of BERT: smaller, faster, cheaper and lighter, 2019, Paper"
    )
    bulleted_prose = (
        "The article makes three points about the models of 2019:\n"
        "• Encoder-only models such as BERT were fine-tuned for each task and led on understanding benchmarks.\n"
        "• Decoder-only models grew quickly after GPT-3 (2020) and now lead on generation.\n"
        "• Open models from Meta let many groups study large models without training their own."
    )
    assert is_bibliography(reading_list)
    assert not is_bibliography(bulleted_prose)


def test_a_paper_s_bibliography_is_marked_from_its_heading_to_its_appendix():
    """Entries wrapped over several lines have too few marks per character for the
    density test; under the "References" heading each one that cites is marked, the
    prose before the heading never shares its chunk, and the appendix after it is prose."""
    conclusion = "We presented a model that learns word vectors quickly and reaches high accuracy on analogies."
    entries = (
        "References\n"
        "[1] Y. Bengio, R. Ducharme, P. Vincent. A neural probabilistic\nlanguage model. Journal of Machine\nLearning Research.\n"
        "[2] Sepp Hochreiter and Jurgen Schmidhuber. Long short-term memory.\nNeural computation, 9(8):1735-1780.\n"
        "[3] T. Mikolov. Statistical Language Models\nBased on Neural Networks. PhD thesis, Brno University\nof Technology, 2012."
    )
    appendix = (
        "A Additional Details for BERT\n"
        "We describe the masked language model in more detail, with an example sentence for each of its steps."
    )
    text = f"{conclusion}\n{entries}\n{appendix}"
    chunks = chunk_document(_paper(text), ChunkerSettings(size=120, overlap=0))
    roles = [(c.section, c.role, c.text[:20]) for c in chunks]
    assert [c.role for c in chunks if c.end <= text.index("References")] == ["text"]
    refs = [c for c in chunks if text.index("References") <= c.start < text.index("A Additional")]
    assert refs and all(c.role == "references" and c.section == "References" for c in refs), roles
    after = [c for c in chunks if c.start >= text.index("A Additional")]
    assert after and all(c.role == "text" and c.section == "A Additional Details for BERT" for c in after), roles
    assert not is_bibliography(entries.split("\n", 4)[-1])  # the same lines without the heading: too sparse
