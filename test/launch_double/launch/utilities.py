"""launch.utilities test double."""

from __future__ import annotations

from typing import Any

from launch import LaunchContext, Substitution


def normalize_to_list_of_substitutions(subs: Any) -> list[Substitution]:
    from launch.substitutions import TextSubstitution

    items = [subs] if isinstance(subs, (str, Substitution)) else list(subs)
    for item in items:
        if not isinstance(item, (str, Substitution)):
            raise TypeError(f"Expected str or Substitution, got {type(item).__name__}")
    return [TextSubstitution(text=item) if isinstance(item, str) else item for item in items]


def perform_substitutions(context: LaunchContext, subs: Any) -> str:
    return "".join(sub.perform(context) for sub in normalize_to_list_of_substitutions(subs))
