"""The lexicon file: validated on load with errors that name the entry; versioned; reloaded when it changes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from compliance.lexicon import DEFAULT_PATH, LexiconError, LexiconStore, load_lexicon

MINIMAL = """
version: "t1"
schema_version: 1
mention: {quotes: ["“”"], cues: [所谓]}
categories:
  guarantee_return:
    name_zh: 保本
    severity: block
    direction: out
    rewrite_hint: 删除承诺
    entries:
      - {term: 保本, allow: ["@neg"]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestLoad:
    def test_packaged_lexicon_loads(self) -> None:
        lex = load_lexicon()
        assert lex.version.startswith("2026.")
        assert "+" in lex.version  # content hash
        assert {"guarantee_return", "credential_request", "complaint_escalation"} <= set(lex.categories)
        for cat in lex.categories.values():
            if cat.direction == "out":
                assert cat.rewrite_hint, cat.name

    def test_version_changes_with_content(self, tmp_path: Path) -> None:
        a = load_lexicon(write(tmp_path, MINIMAL)).version
        b = load_lexicon(write(tmp_path, MINIMAL + "      - {term: 保底}\n")).version
        assert a != b and a.startswith("t1+")

    @pytest.mark.parametrize(
        ("old", "new", "message"),
        [
            ("      - {term: 保本, allow: [\"@neg\"]}", "      - {term: 保本, sev: fatal}", "entries[0] (term '保本')"),
            ("      - {term: 保本, allow: [\"@neg\"]}", "      - {term: \"(保本\", match: regex}", "invalid regex"),
            ("      - {term: 保本, allow: [\"@neg\"]}", "      - {term: 保本, colour: red}", "entries[0] (term '保本')"),
            ("      - {term: 保本, allow: [\"@neg\"]}", "      - {term: \"a*\", match: regex}", "empty string"),
            ("      - {term: 保本, allow: [\"@neg\"]}", "      - {term: 保本, trap: true, allow: [\"@neg\"]}", "trap"),
            ("    severity: block", "    severity: maybe", "categories.guarantee_return"),
            ("    rewrite_hint: 删除承诺", "    rewrite_hint: 删除承诺\n    basis: [NOPE]", "unknown regulation id 'NOPE'"),
        ],
        ids=["bad-severity", "bad-regex", "unknown-field", "empty-regex", "trap-with-neg", "category-severity",
             "unknown-basis"],
    )
    def test_invalid_entry_is_named(self, tmp_path: Path, old: str, new: str, message: str) -> None:
        assert old in MINIMAL
        with pytest.raises(LexiconError) as exc:
            load_lexicon(write(tmp_path, MINIMAL.replace(old, new)))
        assert message in exc.value.message
        assert "lexicon.yaml" in exc.value.message

    def test_not_yaml(self, tmp_path: Path) -> None:
        with pytest.raises(LexiconError, match="not valid YAML"):
            load_lexicon(write(tmp_path, "categories: [unclosed"))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(LexiconError, match="cannot read"):
            load_lexicon(tmp_path / "nope.yaml")


class TestStore:
    def test_reloads_on_change_and_keeps_last_good(self, tmp_path: Path) -> None:
        path = write(tmp_path, MINIMAL)
        store = LexiconStore(path, check_s=0)
        first = store.get().version
        path.write_text(MINIMAL.replace('version: "t1"', 'version: "t2"'), encoding="utf-8")
        os.utime(path, (time.time() + 5, time.time() + 5))
        assert store.get().version.startswith("t2+")
        path.write_text(MINIMAL.replace("severity: block", "severity: nope"), encoding="utf-8")
        os.utime(path, (time.time() + 10, time.time() + 10))
        assert store.get().version.startswith("t2+")
        assert store.last_error and "guarantee_return" in store.last_error
        assert first.startswith("t1+")

    def test_default_path_is_packaged(self) -> None:
        assert DEFAULT_PATH.name == "lexicon.yaml" and DEFAULT_PATH.exists()
