"""Prompts and client-facing text are data; code only loads them.

- `canned(key, **vars)`: a fixed Chinese text from `prompts/canned/*.yaml` (holding replies, refusals, notices), so
  compliance can review every word the product may send. Keys are unique across the files.
- `load(name)`: a prompt file `prompts/<name>.md` with a front-matter header (`name`, `version`, `variables`);
  fails fast when the template and the declared variables disagree.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import frontmatter
import yaml

PROMPTS_DIR = Path(__file__).parent


class PromptError(Exception):
    pass


@lru_cache
def _canned() -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted((PROMPTS_DIR / "canned").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise PromptError(f"{path.name}: expected a mapping of key -> text")
        for key, value in data.items():
            if key in texts:
                raise PromptError(f"{path.name}: canned text key '{key}' is defined twice")
            if not isinstance(value, str):
                raise PromptError(f"{path.name}: canned text '{key}' must be a string")
            texts[key] = value.strip()
    return texts


def canned(key: str, /, **variables: object) -> str:
    """A reviewed, fixed text by key, with `{name}` placeholders filled."""
    try:
        template = _canned()[key]
    except KeyError:
        raise PromptError(f"no canned text '{key}'") from None
    try:
        return template.format(**variables)
    except KeyError as exc:
        raise PromptError(f"canned text '{key}' needs variable {exc}") from None


def canned_keys() -> frozenset[str]:
    return frozenset(_canned())


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    variables: tuple[str, ...]
    template: str

    @property
    def ref(self) -> str:
        """`name@version`, stored on every outbound message so compliance can trace a reply."""
        return f"{self.name}@{self.version}"

    def render(self, **values: object) -> str:
        missing = set(self.variables) - set(values)
        if missing:
            raise PromptError(f"prompt {self.ref} needs {sorted(missing)}")
        return self.template.format(**{k: values[k] for k in self.variables})


@lru_cache
def load(name: str) -> Prompt:
    """Load `prompts/<name>.md` and check that its placeholders are exactly the declared variables."""
    path = PROMPTS_DIR / f"{name}.md"
    if not path.exists():
        raise PromptError(f"no prompt file {path.name}")
    post = frontmatter.load(path)
    meta = post.metadata
    for field in ("name", "version", "variables"):
        if field not in meta:
            raise PromptError(f"{path.name}: front matter lacks '{field}'")
    declared = tuple(meta["variables"] or ())
    used = {field for _, field, _, _ in string.Formatter().parse(post.content) if field}
    if used != set(declared):
        raise PromptError(f"{path.name}: template uses {sorted(used)} but declares {sorted(declared)}")
    return Prompt(name=str(meta["name"]), version=str(meta["version"]), variables=declared, template=post.content)
