from __future__ import annotations

import pytest

from vangnet.banks.categories import Category, get_profile, list_profiles
from vangnet.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "profile", "code", "label"),
    [
        ("vics:0", "vics", "0", "Non-pertinent"),
        ("vics:1", "vics", "1", "Child abuse material"),
        ("VICS:2", "vics", "2", "Child exploitive / age difficult"),
        ("vics:3", "vics", "3", "CGI / animation"),
        ("vics:4", "vics", "4", "Comparison images"),
        ("uk:a", "uk", "A", "Category A"),
        (" uk:C ", "uk", "C", "Category C"),
        ("none", "none", "none", "Not categorised"),
    ],
)
def test_parse(text: str, profile: str, code: str, label: str) -> None:
    category = Category.parse(text)
    assert (category.profile, category.code, category.label) == (profile, code, label)
    assert Category.parse(str(category)) == category
    assert category.description


@pytest.mark.parametrize("text", ["vics:5", "vics:-1", "uk:D", "eu:1", "1", "", "vics:", ":1"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValidationError):
        Category.parse(text)


def test_direct_construction_is_validated() -> None:
    assert Category.of("vics", 1) == Category("vics", "1")
    with pytest.raises(ValidationError):
        Category("vics", "9")
    with pytest.raises(ValidationError):
        Category("uk", "a")  # not canonical: use Category.of


def test_profiles() -> None:
    names = [p.name for p in list_profiles()]
    assert names == ["vics", "uk", "none"]
    assert [c.code for c in get_profile("vics").codes] == ["0", "1", "2", "3", "4"]
    assert [c.code for c in get_profile("uk").codes] == ["A", "B", "C"]
    with pytest.raises(ValidationError):
        get_profile("nope")
