"""Quantities: 万/亿 scaling, Chinese numerals, units, and arithmetic only between compatible units."""

from __future__ import annotations

import pytest

from qa.numbers import (
    IncompatibleUnits,
    chinese_to_number,
    difference,
    format_value,
    parse_quantities,
    parse_quantity,
    same_quantity,
    total,
)


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("全年实施128个项目", 128, "个"),
        ("总投资38.6亿元", 3.86e9, "元"),
        ("投资两百万元", 2e6, "元"),
        ("三年内建成", 3, "年"),
        ("访问用户数达到1.2亿人次", 1.2e8, "人次"),
        ("占比50%", 50, "%"),
        ("新增3万平方米", 3e4, "平方米"),
        ("建设2.7万亩高标准农田", 2.7e4, "亩"),
        ("1,250 people", 1250, "人"),
        ("身高1.93米", 1.93, "米"),
        ("共有6,476名观众", 6476, "人"),
    ],
)
def test_a_quantity_is_read_with_its_scale_and_unit(text, value, unit):
    quantity = parse_quantity(text)
    assert quantity is not None and quantity.value == pytest.approx(value) and quantity.unit == unit


def test_a_year_is_not_a_duration_and_words_are_not_numbers():
    [year] = parse_quantities("2024年开工")
    assert year.unit == "年份"
    assert parse_quantities("一些企业一起十分努力") == []
    assert [q.value for q in parse_quantities("第一、二期共投资5亿元")] == [5e8]


def test_chinese_numerals():
    assert chinese_to_number("两百") == 200
    assert chinese_to_number("三十五") == 35
    assert chinese_to_number("一千二百") == 1200
    assert chinese_to_number("十") == 10
    assert chinese_to_number("二〇二四") == 2024
    assert chinese_to_number("多") is None


def test_sums_and_differences_only_over_compatible_units():
    a, b = parse_quantity("24个"), parse_quantity("105417个")
    assert total([a, b]).value == 105441
    money, count = parse_quantity("38.6亿元"), parse_quantity("47个")
    with pytest.raises(IncompatibleUnits):
        total([money, count])
    with pytest.raises(IncompatibleUnits):
        difference(money, count)
    assert difference(parse_quantity("128个"), parse_quantity("72个")).value == 56
    assert total([parse_quantity("3万元"), parse_quantity("2000元")]).text == "3.2万元"


def test_same_quantity_across_ways_of_writing_it():
    assert same_quantity(parse_quantity("3万平方米"), parse_quantity("30000平方米"))
    assert not same_quantity(parse_quantity("3万元"), parse_quantity("3万人"))
    assert format_value(3.86e9, "元") == "38.6亿元"
