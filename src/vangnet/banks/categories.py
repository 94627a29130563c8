"""Bank categories: which legal or operational class a known item belongs to.

A category is stored as ``(profile, code)`` and written ``profile:code``:

- ``vics``: Project VIC / VICS (US) categories 0-4, as carried in VICS JSON ``Category``.
- ``uk``: the UK sentencing-guideline categories A, B and C used by CAID.
- ``none``: the bank does not categorise (single code ``none``).

The tables below are data, not logic: add a profile by adding an entry to `_PROFILES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vangnet.errors import ValidationError


@dataclass(frozen=True, slots=True)
class CategoryCode:
    code: str
    label: str
    description: str
    #: False for a "not illegal" code (e.g. vics:0 non-pertinent): a confirmation with it
    #: triggers no enforcement and no report (see `vangnet.review.outcomes`).
    reportable: bool = True


@dataclass(frozen=True, slots=True)
class CategoryProfile:
    name: str
    title: str
    codes: tuple[CategoryCode, ...]

    def code(self, code: str) -> CategoryCode:
        for entry in self.codes:
            if entry.code == code:
                return entry
        known = ", ".join(c.code for c in self.codes)
        raise ValidationError(f"unknown {self.name} category {code!r} (known: {known})")


_PROFILES: dict[str, CategoryProfile] = {
    p.name: p
    for p in (
        CategoryProfile(
            "vics",
            "Project VIC / VICS (US)",
            (
                CategoryCode(
                    "0",
                    "Non-pertinent",
                    "Not child abuse or exploitation material.",
                    reportable=False,
                ),
                CategoryCode("1", "Child abuse material", "Child sexual abuse material (CAM)."),
                CategoryCode(
                    "2",
                    "Child exploitive / age difficult",
                    "Exploitive but not CAM, or the age of the person is hard to determine.",
                ),
                CategoryCode(
                    "3", "CGI / animation", "Computer-generated or animated child exploitation."
                ),
                CategoryCode(
                    "4",
                    "Comparison images",
                    "Non-abusive images used to identify a victim.",
                    reportable=False,
                ),
            ),
        ),
        CategoryProfile(
            "uk",
            "UK sentencing guideline (CAID)",
            (
                CategoryCode(
                    "A",
                    "Category A",
                    "Penetrative sexual activity, sexual activity with an animal, or sadism.",
                ),
                CategoryCode("B", "Category B", "Non-penetrative sexual activity."),
                CategoryCode("C", "Category C", "Other indecent images not falling within A or B."),
            ),
        ),
        CategoryProfile(
            "none",
            "Not categorised",
            (CategoryCode("none", "Not categorised", "The bank does not categorise items."),),
        ),
    )
}


def _normalise_code(profile: str, code: str) -> str:
    return code.upper() if profile == "uk" else code.lower()


@dataclass(frozen=True, slots=True, order=True)
class Category:
    """A validated ``(profile, code)`` pair; construct with `Category.of` or `Category.parse`."""

    profile: str
    code: str

    def __post_init__(self) -> None:
        get_profile(self.profile).code(self.code)

    @classmethod
    def of(cls, profile: str, code: str | int) -> Category:
        """Validate and canonicalise (``"UK", "a"`` -> ``uk:A``; ``"vics", 1`` -> ``vics:1``)."""
        name = str(profile).strip().lower()
        get_profile(name)
        return cls(name, _normalise_code(name, str(code).strip()))

    @classmethod
    def parse(cls, text: str) -> Category:
        """Parse ``"vics:1"``, ``"uk:A"`` or ``"none"``; raise `ValidationError` otherwise."""
        if not isinstance(text, str):
            raise ValidationError("a category is written profile:code, e.g. vics:1")
        profile, sep, code = text.strip().partition(":")
        if not sep:
            if profile.lower() == "none":
                return cls("none", "none")
            raise ValidationError(f"not a category {text!r}: expected profile:code, e.g. vics:1")
        return cls.of(profile, code)

    @property
    def label(self) -> str:
        return get_profile(self.profile).code(self.code).label

    @property
    def description(self) -> str:
        return get_profile(self.profile).code(self.code).description

    @property
    def reportable(self) -> bool:
        """Whether confirming with this category is an "illegal" outcome (enforcement and a
        report may follow); False for the codes a profile marks as not illegal."""
        return get_profile(self.profile).code(self.code).reportable

    def __str__(self) -> str:
        return f"{self.profile}:{self.code}"


def get_profile(name: str) -> CategoryProfile:
    try:
        return _PROFILES[name]
    except KeyError:
        known = ", ".join(_PROFILES)
        raise ValidationError(f"unknown category profile {name!r} (known: {known})") from None


def list_profiles() -> list[CategoryProfile]:
    """All category profiles, in a stable order."""
    return list(_PROFILES.values())
