"""The page's style sheet: the chat, the banner and the sources panel, then the optional parts'."""

from __future__ import annotations

from ui.extras import panel_css


def page_css() -> str:
    """The whole style sheet handed to Gradio at launch."""
    return PAGE_CSS + panel_css()


PAGE_CSS = """
.rag-header h1 { font-size: 1.5rem; margin: 0.2rem 0 0.1rem; }
.rag-header p { margin: 0; color: var(--body-text-color-subdued); font-size: 0.9rem; }
.rag-spinner, .rag-pending::before { display: inline-block; width: 0.7em; height: 0.7em; margin-right: 0.5em;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%;
  animation: rag-spin 0.8s linear infinite; vertical-align: -0.05em; content: ""; }
@keyframes rag-spin { to { transform: rotate(360deg); } }
.rag-banner { padding: 6px 12px; border-radius: 6px; font-size: 0.9rem; }
.rag-loading { background: rgba(59,130,246,0.12); color: var(--body-text-color); }
.rag-ready { background: rgba(34,197,94,0.12); color: var(--body-text-color); }
.rag-failed { background: rgba(220,38,38,0.14); color: #b91c1c; font-weight: 600; }
.rag-waiting { font-size: 0.85rem; color: var(--body-text-color-subdued); }
.rag-waiting ol { margin: 2px 0 0 1.2em; padding: 0; }
.rag-status { font-size: 0.85rem; color: var(--body-text-color-subdued); min-height: 1.2em; }
.rag-footer { font-size: 0.8rem; color: var(--body-text-color-subdued); text-align: center; padding: 6px 0; }
.rag-examples { gap: 6px !important; }
.rag-examples button { flex: 0 1 auto !important; font-weight: 400; }
a.rag-cite { font-size: 0.8em; font-weight: 600; text-decoration: none; vertical-align: super; padding: 0 1px; }
.rag-notice.rag-refusal, .rag-notice.rag-error, .rag-notice.rag-info { padding: 8px 12px; border-radius: 6px; font-size: 0.95rem; line-height: 1.5; }
.rag-notice.rag-refusal { border-left: 4px solid #f59e0b; background: rgba(245,158,11,0.14); font-weight: 600; }
.rag-notice.rag-error { border-left: 4px solid #dc2626; background: rgba(220,38,38,0.10); }
.rag-notice.rag-info { border-left: 4px solid #3b82f6; background: rgba(59,130,246,0.10); font-size: 0.9rem; }
.rag-meta, .rag-pending { color: var(--body-text-color-subdued); font-size: 0.85em; }
.rag-typing { animation: rag-blink 1s steps(2, start) infinite; }
@keyframes rag-blink { to { visibility: hidden; } }
#rag-sources { max-height: 640px; overflow-y: auto; }
.rag-sources h4 { margin: 0 0 6px; }
.rag-sources-empty { color: var(--body-text-color-subdued); padding: 12px; border: 1px dashed var(--border-color-primary); border-radius: 8px; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 0 0 8px; scroll-margin-top: 8px; }
.rag-source:target { outline: 2px solid #f59e0b; background: rgba(245,158,11,0.08); }
.rag-src-head { font-size: 0.9em; margin-bottom: 4px; display: flex; flex-wrap: wrap; gap: 6px; align-items: baseline; }
.rag-src-n { font-weight: 700; }
.rag-src-title { font-weight: 600; }
.rag-src-page, .rag-src-score { color: var(--body-text-color-subdued); font-size: 0.9em; }
.rag-src-caption { font-size: 0.85em; font-style: italic; color: var(--body-text-color-subdued); white-space: pre-wrap; margin-bottom: 2px; }
.rag-src-text { white-space: pre-wrap; font-size: 0.88em; line-height: 1.5; max-height: 16em; overflow-y: auto; }
.rag-src-text mark { background: rgba(250,204,21,0.55); color: inherit; padding: 0 1px; border-radius: 2px; }
.rag-badge { font-size: 0.75em; padding: 1px 6px; border-radius: 4px; }
.rag-attributed { background: rgba(99,102,241,0.15); }
.rag-unsupported { background: rgba(220,38,38,0.15); }
.rag-sources details { margin-top: 8px; }
.rag-sources summary { cursor: pointer; color: var(--body-text-color-subdued); }
.rag-unsupported-list { font-size: 0.85em; margin: 6px 0; }
"""
