"""Text cleaning: what "cleaned text" means for every document we index.

``clean_text`` applies Unicode NFKC, normalises whitespace (keeping paragraph breaks),
repairs PDF line-break hyphenation and soft wraps of English text (the sure rules of
``ingest.text.join_wrapped_lines``), and removes web-page
boilerplate line by line: share/like/favourite widgets, red-packet and payment panels,
QR-code and follow prompts, submission prompts, "read the original" links, ads, empty
metadata labels and lists of bare dates (e.g. "related articles" sidebars).

Boilerplate rules look at one line at a time, plus its nearest non-blank neighbours:

* *strong* patterns remove a short line on their own ("扫码支付", "我要投稿");
* *weak* patterns ("咨询服务", a bare date, a bare number) remove a line only when
  a neighbouring line was removed too, so a real sentence that happens to mention
  "服务商" survives while an ad block next to a widget does not;
* a short run of short lines wedged between removed lines goes with them (the
  options of a "was this helpful?" poll, a user name inside a payment panel).

Lines longer than ``MAX_BOILERPLATE_CHARS`` are never removed: boilerplate is short,
real paragraphs are not. Chunk offsets refer to the cleaned text, so cleaning may
change anything, but it is deterministic and idempotent (``clean_text`` runs its
passes until the text stops changing).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence

from ingest.text import join_wrapped_lines

logger = logging.getLogger(__name__)

MAX_BOILERPLATE_CHARS = 80
# Runs of at most this many short lines between removed lines are removed with them.
_MAX_WEDGED_RUN = 6
_WEDGED_LINE_CHARS = 20

# Characters that carry no text: zero-width spaces/joiners, word joiner, BOM, soft hyphen.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# C0/C1 control characters other than tab and newline (form feeds from PDFs, stray bytes).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


_DATE = (
    r"(?:\d{4}\s*[-/.年]\s*\d{1,2}(?:\s*[-/.月]\s*\d{1,2}\s*日?|\s*月)?"
    r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+\d{4}"
    r"|\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.?,?\s+\d{4})"
    r"(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
)
_DATE_LINE = re.compile(rf"^{_DATE}$", re.IGNORECASE)

_STRONG = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # Widget labels and counters: "点赞", "• 13 收藏", "评论 0".
        r"^[•·*\-]?\s*\d*\s*(?:点赞|赞|在看|分享|收藏|评论|转发|赞赏|打赏|喜欢|举报|投币|"
        r"一键三连|复制链接|写评论|提交|回复|取消)\s*\d*$",
        # Engagement prompts: "欢迎点赞、关注、分享三连", "觉得还不错? 一键收藏".
        r"(?:欢迎|请|记得|求|别忘了?|顺手|麻烦|希望).{0,15}"
        r"(?:点赞|点个赞|在看|转发|收藏|三连|赞同|赞赏|打赏|星标|置顶)",
        r"一键三连|三连|一键收藏|觉得(?:还)?不错|(?:对你|对您)有(?:所)?帮助(?:吗|么|嘛)",
        # QR-code and follow prompts.
        r"扫码|扫一扫|二维码|长按(?:识别|扫描|关注|图片|保存)|识别图中|"
        r"关注(?:我们|公众号|本号|微信|小编|作者)|公众号",
        # Submission prompts.
        r"我要投稿|欢迎投稿|投稿(?:邮箱|方式|须知|指南|通道|请)|(?:点击|在线)投稿|^投稿$",
        # Red packets, tipping and payment panels.
        r"红包|充值|(?:余额|钱包|微信|使用余额)支付|需支付|^实付|抵扣|钱包余额|"
        r"(?:付费|VIP|会员)(?:专栏|课程|内容|用户|免费|专享)",
        # Links to elsewhere.
        r"阅读原文|查看原文|原文链接|展开全文|阅读全文|继续阅读|点击(?:阅读|查看|这里|此处|下方|链接|关注)",
        r"^\W*(?:相关推荐|推荐阅读|猜你喜欢|热门推荐|往期(?:推荐|回顾|精选|文章)|延伸阅读|"
        r"精彩推荐|热门文章|广告|推广|赞助)\W*$",
        # Copyright and reposting notices.
        r"版权(?:声明|所有|归)|转载请|未经(?:授权|许可)|免责声明|all rights reserved|©",
        # Metadata labels left without a value: "标签:", "更新时间:".
        r"^(?:标签|分类|类别|更新时间|发布时间|发表时间|发布于|发表于|阅读量|阅读数|浏览量|字数|"
        r"tags?|categories|category|posted(?: on| in)?|updated|share)\s*[::]\s*$",
        rf"^(?:发布|更新|发表)(?:时间|于)\s*[::]?\s*{_DATE}$",
        # Image placeholders left by HTML-to-text conversion: "20230730-001", "image-2025...".
        r"^(?:图片?|image|img|figure|pic)?\s*[-_:]?\s*\d{6,}(?:[-_]\d+)*"
        r"(?:\.(?:png|jpe?g|gif|webp|svg))?$",
        r"^[\w.\-]+\.(?:png|jpe?g|gif|webp|svg)$",
        # English widgets.
        r"^(?:share (?:this|on)|follow us|subscribe (?:to|now)|sign up for|read more|"
        r"continue reading|advertisement|sponsored(?: content)?|accept (?:all )?cookies|"
        r"we use cookies|click here)\b",
    )
]

# Removed only next to other removed lines: these words and shapes also occur in text.
_WEAK = [
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_DATE}$",
        r"^[•·*\-]?\s*\d+$",
        r"服务商|一站式|定制开发|咨询服务|服务协议|零风险|免费试用|限时(?:优惠|免费|特惠)|"
        r"立即(?:咨询|购买|报名|领取|下载|体验)|商务合作|交个朋友|添加(?:小助手|客服)|加(?:我|小编)?微信",
        r"余额|支付|付费|关注|粉丝|规则$",
    )
]


def clean_text(text: str) -> str:
    """Return ``text`` normalised and without web boilerplate (deterministic, idempotent).

    NFKC (so "ﬁ" becomes "fi" and full-width punctuation becomes ASCII), one space for any
    run of horizontal whitespace, no trailing spaces, at most one blank line between
    paragraphs, PDF hyphenation and English soft wraps repaired, boilerplate lines removed
    (see the module docstring for the rules).
    """
    previous = None
    # Each pass only removes lines or characters, so this stops; repeating makes the
    # result a fixed point (removing a line can expose a new neighbour pattern).
    while text != previous:
        previous, text = text, _clean_once(text)
    return text


def _clean_once(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text)
    lines = [_HSPACE.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    # Only the sure re-joins (hyphenation, English lowercase continuations): Chinese lines
    # are not joined, because article lines are paragraphs and headings.
    text = join_wrapped_lines(text)
    lines = text.split("\n")
    kept = [line for line, drop in zip(lines, boilerplate_mask(lines)) if not drop]
    return _BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip()


def boilerplate_mask(lines: Sequence[str]) -> list[bool]:
    """Return, for each (already whitespace-normalised) line, whether it is boilerplate.

    Exposed so tests and the build report can show exactly which lines go.
    """
    n = len(lines)
    removed = [_is_strong(line) for line in lines]
    for i in _date_list_lines(lines):
        removed[i] = True
    nonblank = [i for i in range(n) if lines[i]]
    # Spread from removed lines to weak neighbours until nothing changes.
    changed = True
    while changed:
        changed = False
        for pos, i in enumerate(nonblank):
            if removed[i] or not _is_weak(lines[i]):
                continue
            before = nonblank[pos - 1] if pos > 0 else None
            after = nonblank[pos + 1] if pos + 1 < len(nonblank) else None
            if (before is not None and removed[before]) or (after is not None and removed[after]):
                removed[i] = changed = True
    _remove_wedged_runs(lines, nonblank, removed)
    return removed


def _is_strong(line: str) -> bool:
    return 0 < len(line) <= MAX_BOILERPLATE_CHARS and any(p.search(line) for p in _STRONG)


def _is_weak(line: str) -> bool:
    return 0 < len(line) <= MAX_BOILERPLATE_CHARS and any(p.search(line) for p in _WEAK)


def _date_list_lines(lines: Sequence[str]) -> list[int]:
    """Indices of lines in "related articles" lists: three or more bare dates, each at
    most one short line apart, and everything between the first and last date."""
    dates = [i for i, line in enumerate(lines) if _DATE_LINE.match(line)]
    found: list[int] = []
    group: list[int] = []
    for i in dates + [None]:
        if group and i is not None and _gap_ok(lines, group[-1], i):
            group.append(i)
            continue
        if len(group) >= 3:
            found.extend(j for j in range(group[0], group[-1] + 1) if lines[j])
        group = [i] if i is not None else []
    return found


def _gap_ok(lines: Sequence[str], a: int, b: int) -> bool:
    between = [line for line in lines[a + 1 : b] if line]
    return len(between) <= 1 and all(len(line) <= MAX_BOILERPLATE_CHARS for line in between)


def _remove_wedged_runs(lines: Sequence[str], nonblank: list[int], removed: list[bool]) -> None:
    pos = 0
    while pos < len(nonblank):
        if removed[nonblank[pos]]:
            pos += 1
            continue
        end = pos
        while end < len(nonblank) and not removed[nonblank[end]]:
            end += 1
        run = nonblank[pos:end]
        bounded = pos > 0 and end < len(nonblank)
        if bounded and len(run) <= _MAX_WEDGED_RUN and all(
            len(lines[i]) <= _WEDGED_LINE_CHARS for i in run
        ):
            for i in run:
                removed[i] = True
        pos = end


def remove_running_lines(pages: Sequence[str]) -> list[str]:
    """Drop running headers/footers and page numbers from the cleaned pages of one PDF.

    A line that recurs on at least half of the pages (and on three or more) is a running
    header or footer (a copyright notice, a journal name); a line that is only the page's
    own number is a page number. Documents of fewer than three pages are returned as is.
    """
    if len(pages) < 3:
        return list(pages)
    seen: dict[str, int] = {}
    for page in pages:
        for line in set(page.split("\n")):
            if line:
                seen[line] = seen.get(line, 0) + 1
    threshold = max(3, (len(pages) + 1) // 2)
    running = {line for line, count in seen.items() if count >= threshold}
    result = []
    for number, page in enumerate(pages, start=1):
        kept = [line for line in page.split("\n") if line not in running and line != str(number)]
        result.append(_BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip())
    return result
