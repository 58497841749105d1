"""Quantities in Chinese and English text: 128个, 38.6亿元, 两百, 三年, 1.2亿人次, 50%, 3万平方米 as (value, unit)
with 万/亿 scaling; sums and comparisons only between compatible units. Used by the answerer and the citation
checks (`parse_quantities`, `same_quantity`, `total`, `difference`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL_SCALES = {"十": 10, "百": 100, "千": 1000}
_SCALES = {"万": 10**4, "亿": 10**8, "千": 10**3, "百": 10**2, "thousand": 10**3, "million": 10**6,
           "billion": 10**9}
# Units, longest first so "平方公里" wins over "公里"; the value is the canonical unit (synonyms share one).
_UNITS = {
    "平方公里": "平方公里", "平方千米": "平方公里", "平方米": "平方米", "公顷": "公顷", "万亩": "万亩", "亩": "亩",
    "公里": "公里", "千米": "公里", "厘米": "厘米", "毫米": "毫米", "米": "米", "km": "公里",
    "km²": "平方公里", "km2": "平方公里", "m²": "平方米", "cm": "厘米", "mm": "毫米",
    "公斤": "千克", "千克": "千克", "吨": "吨", "克": "克", "kg": "千克",
    "人民币": "元", "美元": "美元", "欧元": "欧元", "英镑": "英镑", "日元": "日元", "港元": "港元", "港币": "港元",
    "元": "元", "块": "元",
    "个百分点": "个百分点", "百分点": "个百分点", "%": "%", "％": "%", "‰": "‰",
    "人次": "人次", "人": "人", "名": "人", "位": "人", "户": "户",
    "个月": "月", "小时": "小时", "分钟": "分钟", "秒钟": "秒", "秒": "秒", "周": "周", "星期": "周",
    "天": "天", "日": "天", "岁": "岁", "年": "年", "月": "月",
    "千瓦时": "千瓦时", "千瓦": "千瓦", "兆瓦": "兆瓦", "瓦": "瓦", "度": "度",
    "个": "个", "家": "家", "项": "项", "所": "所", "条": "条", "种": "种", "座": "座", "处": "处", "类": "类",
    "次": "次", "只": "只", "件": "件", "场": "场", "部": "部", "本": "本", "张": "张", "台": "台", "辆": "辆",
    "架": "架", "艘": "艘", "倍": "倍", "层": "层", "届": "届", "套": "套", "间": "间", "栋": "栋", "块地": "块",
    "枚": "枚", "首": "首", "集": "集", "章": "章", "册": "册", "篇": "篇", "局": "局", "分": "分", "球": "球",
    "percent": "%", "people": "人", "years": "年", "year": "年", "yuan": "元",
}
_UNIT_PATTERN = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_CHINESE_NUMBER = "[零〇一二两三四五六七八九十百千]+"
_ARABIC = r"\d+(?:,\d{3})*(?:\.\d+)?"
_QUANTITY = re.compile(
    rf"(?P<approx>约|近|超过|逾|达|多达|共|合计|总计|about|over|nearly)?\s*"
    rf"(?P<number>{_ARABIC}|{_CHINESE_NUMBER})"
    rf"(?P<scale>(?:\s*(?:万|亿|千|百|thousand|million|billion))*)"
    rf"(?P<more>多|余|几)?\s*"
    rf"(?P<unit>{_UNIT_PATTERN})?",
    re.IGNORECASE,
)
# A four-digit number before 年 is a year (2024年), not a duration; before 年代 a decade.
_YEAR = re.compile(r"^(?:1[0-9]|20)\d\d$")


class IncompatibleUnits(ValueError):
    """Adding or comparing quantities whose units differ (亿元 and 个)."""


@dataclass(frozen=True)
class Quantity:
    value: float  # scaled: 38.6亿元 → 3.86e9
    unit: str  # canonical unit ("元", "个", "%", "年"); "" for a bare number; "年份" for a calendar year
    text: str  # as written
    start: int = 0
    end: int = 0

    def compatible(self, other: Quantity) -> bool:
        return self.unit == other.unit

    def __str__(self) -> str:
        return self.text


def chinese_to_number(text: str) -> float | None:
    """两百 → 200, 三十五 → 35, 一千二百 → 1200, 二〇二四 → 2024; None when it is not a numeral."""
    if not text or any(ch not in _DIGITS and ch not in _SMALL_SCALES for ch in text):
        return None
    if not any(ch in _SMALL_SCALES for ch in text):
        return float("".join(str(_DIGITS[ch]) for ch in text))  # read digit by digit
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        else:
            total += (current or 1) * _SMALL_SCALES[ch]
            current = 0
    return float(total + current)


def _value(number: str) -> float | None:
    if number[0].isdigit():
        return float(number.replace(",", ""))
    return chinese_to_number(number)


def parse_quantities(text: str) -> list[Quantity]:
    """Every quantity in the text, in order. A lone Chinese numeral without a unit or scale ("一些", "一起")
    is not a quantity; a bare Arabic number is (unit "")."""
    text = unicodedata.normalize("NFKC", text)
    found = []
    for match in _QUANTITY.finditer(text):
        number, scale_text, unit = match.group("number"), match.group("scale"), match.group("unit") or ""
        value = _value(number)
        if value is None:
            continue
        chinese = not number[0].isdigit()
        if chinese and len(number) == 1 and not scale_text.strip() and (not unit or number == "一" or unit == "分"):
            continue  # 一些, 一个, 十分: words, not counts
        for scale in re.findall(r"万|亿|千|百|thousand|million|billion", scale_text, re.IGNORECASE):
            value *= _SCALES[scale.lower()]
        canonical = _UNITS.get(unit.lower(), _UNITS.get(unit, ""))
        if canonical == "万亩":
            value, canonical = value * 10**4, "亩"
        if canonical == "年" and not scale_text and _YEAR.match(number):
            canonical = "年份"
        start = match.start("number")
        found.append(Quantity(value, canonical, text[start:match.end()].strip(), start, match.end()))
    return found


def parse_quantity(text: str) -> Quantity | None:
    """The first quantity in the text, if any."""
    quantities = parse_quantities(text)
    return quantities[0] if quantities else None


def same_quantity(a: Quantity, b: Quantity, tolerance: float = 1e-6) -> bool:
    """Whether two quantities state the same amount (3万平方米 and 30000平方米); a bare number matches any unit."""
    if a.unit and b.unit and a.unit != b.unit:
        return False
    return abs(a.value - b.value) <= tolerance * max(abs(a.value), abs(b.value), 1.0)


def total(quantities: list[Quantity]) -> Quantity:
    """The sum; IncompatibleUnits when the units differ."""
    if not quantities:
        raise ValueError("nothing to add")
    units = {q.unit for q in quantities}
    if len(units) > 1:
        raise IncompatibleUnits(f"cannot add {' and '.join(sorted(u or 'bare numbers' for u in units))}")
    value = sum(q.value for q in quantities)
    unit = quantities[0].unit
    return Quantity(value, unit, format_value(value, unit))


def difference(a: Quantity, b: Quantity) -> Quantity:
    """|a − b|; IncompatibleUnits when the units differ."""
    if not a.compatible(b):
        raise IncompatibleUnits(f"cannot compare {a.unit or 'a bare number'} with {b.unit or 'a bare number'}")
    value = abs(a.value - b.value)
    return Quantity(value, a.unit, format_value(value, a.unit))


def format_value(value: float, unit: str) -> str:
    """3.86e9, 元 → 38.6亿元; 30000, 平方米 → 3万平方米; a whole number without decimals."""
    for scale, name in ((10**8, "亿"), (10**4, "万")):
        if abs(value) >= scale and unit not in ("年份", "%", "‰"):
            return f"{_plain(value / scale)}{name}{unit}"
    return f"{_plain(value)}{'年' if unit == '年份' else unit}"


def _plain(value: float) -> str:
    return f"{round(value, 4):g}" if abs(value) < 1e15 else f"{value:.0f}"
