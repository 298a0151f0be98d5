"""Engine texts shown in one language: alert messages and their legal sources.

The stream engine writes alert messages in both languages at once, "中文 / English",
clause by clause ("立案后一年未结 / Filed case not concluded one year after filing: 已超期 /
overdue; 期限 due 2025-06-13"). The bus and the REST API keep that text as it is; the
pages show the half of the UI's language, so a Chinese reader is not made to skip
English at every line. Clauses the engine writes in one language only (an offence's
name, a figure) stay as they are.

Legal sources in the rule files still name two documents by their seed file names;
until hub/rules cites them, the view shows the documents (issuer, title, number, date)
in their place, because a file name means nothing to a reader looking the law up.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["cite", "localize", "localize_summary"]

#: "中文 / English" or "中文（注）/ English": the engine's pair convention. A slash between
#: two Chinese words ("检察建议/检察意见") is part of a name and is not a pair.
_PAIR = re.compile(r"^(?P<zh>.*?[\u3000-\u9fff\uff00-\uffef)])\s?/ (?P<en>.+)$")
_DUE = re.compile(r"^期限 due (?P<date>.+)$")
_ALTERNATIVE = re.compile(r"^alternative (?P<name>[\w-]+): (?P<ratio>[\d.]+) of the threshold$")
_FIXED = {
    "the violation type itself is a circumstance the offence lists":
        "违法类型本身即为该罪列明的情形",
    "any production or sale is an offence (per se)": "一经生产、销售即涉嫌犯罪",
    "qualitative threshold: a person must judge": "定性标准，须由办案人员判断",
    "the case carries none of the figures the threshold measures":
        "案件中没有追诉标准所衡量的数额或数量",
    "no threshold could be compared": "无可比对的追诉标准",
    "context not established by the violation type": "违法类型未能确定适用情形",
    "party category unknown": "当事人类别不明",
    # streams.screening_assessment.UNCHECKED_NOTE: a lead reached on the figures only
    "conditions the record cannot establish: a person must check them":
        "处罚记录无法确认全部追诉条件，须由办案人员核实",
}
#: Screening's notes with a figure or a name in them (streams/screening_assessment.py).
_NOTES = (
    (re.compile(r"^also needs (?P<what>.+) \(not in the penalty record\)$"),
     "另需处罚记录中没有的数据，须由办案人员核实"),
    (re.compile(r"^(?P<what>.+) from a stand-in figure \(not in the record\)$"),
     "所用数额为替代数额（如以货值金额代替销售金额），须由办案人员核实"),
    (re.compile(r"^quantity (?P<what>.+) has no numeric value$"), "数量{what}不是数字"),
    (re.compile(r"^quantity (?P<what>.+) in .+ cannot be expressed in .+$"),
     "数量{what}的计量单位无法换算"),
)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _pair(part: str, language: str) -> str:
    match = _PAIR.match(part)
    if match is None:
        return part
    return match.group("zh").strip() if language == "zh" else match.group("en").strip()


def _clause(clause: str, language: str) -> str:
    """One "; "-separated clause: a known one-language phrase, or ": "-joined pairs."""
    due = _DUE.match(clause)
    if due:
        return f"期限 {due.group('date')}" if language == "zh" else f"due {due.group('date')}"
    alternative = _ALTERNATIVE.match(clause)
    if alternative:
        if language == "zh":
            # The alternative's id is the rule file's English key: the lead's explanation
            # names the figure and its threshold instead.
            return f"达到追诉标准的 {alternative.group('ratio')} 倍"
        return clause
    if clause in _FIXED:
        return _FIXED[clause] if language == "zh" else clause
    for pattern, chinese in _NOTES:
        note = pattern.match(clause)
        if note:
            return chinese.format(**{k: f"“{v.strip(chr(39))}”"
                                     for k, v in note.groupdict().items()}) \
                if language == "zh" else clause
    parts: list[str] = []
    after_pair = False
    for part in _split(clause, ": "):
        if after_pair and _LATIN_WORD.search(part) and not _CJK.search(part):
            # The English half went on past a ": " ("… / Missing entries: unit silent"):
            # it belongs to the previous pair's English side.
            if language != "zh":
                parts.append(part)
            continue
        after_pair = _PAIR.match(part) is not None
        parts.append(_pair(part, language))
    return ("：" if language == "zh" else ": ").join(parts)


def _split(text: str, separator: str) -> list[str]:
    """``text`` split on ``separator`` outside brackets ("(10 at most; complex 30)" holds)."""
    parts: list[str] = []
    depth = start = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char in "(（":
            depth += 1
        elif char in ")）":
            depth = max(depth - 1, 0)
        elif depth == 0 and text.startswith(separator, index):
            parts.append(text[start:index])
            index += len(separator)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return parts


def localize(text: str | None, language: str) -> str:
    """The text in ``language`` ("zh" or "en") where the engine wrote both halves."""
    if not text:
        return ""
    clauses = [_clause(clause, language) for clause in _split(text, "; ")]
    return ("；" if language == "zh" else "; ").join(clauses)


#: A timeline summary: Chinese words, the same in lower-case English, then what both share
#: ("立案 filed A4299…", "行政处罚决定 penalty decision 演交罚〔2025〕3号: 超限运输").
_SUMMARY = re.compile(r"^(?P<zh>[\u4e00-\u9fff]+) (?P<en>[a-z]+(?: [a-z]+)*)(?P<rest>(?: |:|$).*)$")


#: The receiving unit the engine writes into a summary ("→ <code>" and, for a lead, its
#: destination code "→ <code>: JUSTICE_BUREAU"); kept as stored (the consult page finds
#: a unit's leads by it) and shown by name and in the page's language.
_RECEIVER = re.compile(r"→ (?P<code>[0-9A-HJ-NP-RTUWXY]{18})"
                       r"(?::\s(?P<destination>[A-Z][A-Z_]+[A-Z])\b)?")


#: A code value the engine writes into a summary (a verdict, an outcome, a match method):
#: capitals and underscores, not part of a unit code or a document number.
_CODE = re.compile(r"(?<![\w.-])[A-Z][A-Z_]*[A-Z](?![\w.-])")


def localize_summary(text: str | None, language: str,
                     unit_name: Callable[[str], str] | None = None,
                     label: Callable[[str], str] | None = None,
                     code: Callable[[str], str] | None = None) -> str:
    """A timeline summary with the other language's words left out, the receiving unit's
    code shown by ``unit_name``, a lead's destination code by ``label`` and any other code
    value (判决 …: CONVICTED) by ``code`` (which returns a code it does not name as it is)."""
    if not text:
        return ""
    match = _SUMMARY.match(text)
    if match is None:
        shown = localize(text, language)
    else:
        head = match.group("zh") if language == "zh" else match.group("en")
        shown = head + match.group("rest")
    if unit_name is None and label is None and code is None:
        return shown

    def receiver(found: re.Match[str]) -> str:
        code, destination = found.group("code"), found.group("destination")
        name = unit_name(code) if unit_name is not None else code
        if destination is None:
            return f"→ {name}"
        return f"→ {name}: {label(destination) if label is not None else destination}"

    shown = _RECEIVER.sub(receiver, shown)
    return _CODE.sub(lambda found: code(found.group(0)), shown) if code is not None else shown


#: Seed files of the rule data and the documents they are (DOMAIN.md lists each report by
#: issuer, title, number and date).
_DOCUMENTS = {
    "002_1727c8690bf6f95f.txt": "中共兴庆区委办公室、兴庆区人民政府办公室《关于进一步加强行政执法与"
    "刑事司法衔接工作的实施意见》（银兴党办发〔2018〕18号，2018-02-13）",
    "001_dea36c7683b63058.txt": "麻城市人民检察院《建设\u201c两法衔接\u201d信息平台 促进依法行政和"
    "公正司法》（2016-11-29）",
}
_SEED = re.compile(
    r"(?:Local implementing opinion(?: on 两法衔接)? )?"
    r"\(?\b[Ss]eed (?P<file>\d{3}_[0-9a-f]{16}\.txt)\)?"
)
_DOMAIN_NOTE = re.compile(r"\s*as cited in DOMAIN\.md")


def cite(source: str | None) -> str:
    """A legal source with seed file names replaced by the documents they are."""
    if not source:
        return ""

    def document(match: re.Match[str]) -> str:
        return _DOCUMENTS.get(match.group("file"), "")

    text = _SEED.sub(document, source)
    text = _DOMAIN_NOTE.sub("", text)
    text = text.replace("No period in DOMAIN.md: operator-set", "No statutory period: operator-set")
    text = text.replace("(DOMAIN.md, Units)", "")
    return re.sub(r"\s{2,}", " ", text).strip()
