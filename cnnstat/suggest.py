"""Suggestions ("did you mean …?"): the one place where a name a user typed is matched against
the names that exist (zoo models, operators, arguments, variables, columns, commands, option
values, layers …).

Matching ignores case: ``ReLU`` finds ``relu``, ``VGG16`` finds ``vgg16``. A name that differs only
in case is always the first suggestion; the others are the closest by difflib's ratio (at least
0.6, as ``difflib.get_close_matches``), compared in lower case.
"""

from __future__ import annotations

from typing import Iterable


def close_matches(word: object, options: Iterable[object], n: int = 3,
                  cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` options close to ``word``, best first, spelled as the options spell them."""
    word = str(word)
    names = list(dict.fromkeys(str(o) for o in options))
    folded = word.casefold()
    same_case = [o for o in names if o.casefold() == folded and o != word]
    by_fold: dict[str, str] = {}
    for o in names:
        by_fold.setdefault(o.casefold(), o)
    import difflib
    near = difflib.get_close_matches(folded, list(by_fold), n=n + len(same_case), cutoff=cutoff)
    out = same_case + [by_fold[k] for k in near if by_fold[k] not in same_case and by_fold[k] != word]
    return out[:n]


def did_you_mean(word: object, options: Iterable[object], n: int = 1,
                 cutoff: float = 0.6, prefix: str = "") -> str:
    """`` (did you mean 'relu'?)`` — or ``''`` when nothing is close. Up to ``n`` names.
    ``prefix`` is shown before each name but not compared (``--`` of an option)."""
    matches = close_matches(word, options, n, cutoff)
    if not matches:
        return ""
    quoted = [f"'{prefix}{m}'" for m in matches]
    text = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {text}?)"


def lookup(word: str, options: Iterable[str]) -> str | None:
    """The option equal to ``word`` ignoring case (the option's own spelling), else None."""
    folded = str(word).casefold()
    for o in options:
        if str(o).casefold() == folded:
            return str(o)
    return None


def choose(word: str, options: Iterable[str], what: str) -> str:
    """``word`` as one of ``options`` (any case), or a UsageError naming them all:
    ``--format: unknown value 'jsn' (did you mean 'json'?); choose from table, md, csv, json``."""
    options = list(options)
    found = lookup(word, options)
    if found is not None:
        return found
    from .errors import UsageError
    raise UsageError(f"{what}: unknown value '{word}'{did_you_mean(word, options)}; "
                     f"choose from {', '.join(options)}")


__all__ = ["close_matches", "did_you_mean", "lookup", "choose"]
