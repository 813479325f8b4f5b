"""Reading a configuration file into plain data, with the YAML features that bite fenced off.

`read_yaml` reads a regular file (never a pipe or a device, which could block or never end)
of at most MAX_BYTES, decodes UTF-8 (a BOM is allowed), composes the YAML with a SafeLoader
that uses YAML 1.2 booleans, and checks the composed document before anything is built from it:

- a key written twice in one mapping is an error naming both lines (YAML would keep the last
  one silently: an appended `api:` block would drop the first one's token);
- nesting deeper than MAX_DEPTH is an error, never a RecursionError;
- aliases (`*name`) and merge keys (`<<: *name`) are allowed, but the document they expand to
  may hold at most MAX_VALUES values and MAX_TEXT characters of text, and nest at most
  MAX_DEPTH deep. All three are counted on the composed graph, where an alias is one shared
  node, so a small file of nested aliases is refused in milliseconds instead of being expanded
  (and every later stage, `${VAR}` interpolation included, sees at most MAX_TEXT characters);
  an alias inside the value it names is refused too;
- tags other than YAML's plain ones (`!!python/object`, `!!binary`, `!custom`) are errors.

Every failure is a ConfigError naming the file and, where there is one, the line.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.errors import ConfigError, ConfigProblem
from monitor.quoting import shortened

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_TEXT", "MAX_VALUES", "read_yaml"]

MAX_BYTES = 1024 * 1024  # a configuration is a few kilobytes
MAX_DEPTH = 32  # the deepest key of a configuration is 6 levels down
MAX_VALUES = 10_000  # every key, value and list item, once aliases are expanded
# The characters of every key and value, once aliases are expanded. A file without aliases
# never holds more text than its size, so only aliases can reach this.
MAX_TEXT = MAX_BYTES

_CORE = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))
_MERGE = _CORE + "merge"
_PARSER_TEXT = 200  # PyYAML's messages are cut to this many characters


class _Refused(Exception):
    """A document the loader will not build, at a place in the file."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Duplicate(NamedTuple):
    key: str
    first: Any  # the marks of the two keys
    again: Any

    @property
    def problem(self) -> ConfigProblem:
        first, again = self.first.line + 1, self.again.line + 1
        if first == again:
            columns = f"columns {self.first.column + 1} and {self.again.column + 1}"
            where = f"twice on line {first} ({columns})"
        else:
            where = f"first at line {first}, again at line {again}"
        return ConfigProblem(self.key, f"duplicate key: {where}")


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, no implicit dates, and the checks of this module.

    YAML 1.1 reads an unquoted `off` (a value of `failover.mode` and `bypass_cache`), `on`,
    `yes` and `no` as booleans; here they stay words, and pydantic still accepts them where a
    boolean is expected. Likewise `2024-01-01` stays a string: no key takes a date, and an
    impossible one (`2024-13-45`) would fail while building the value, without a line.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[_Duplicate] = []
        self.aliases = 0
        self._path: list[str] = []  # the key path of the value being composed

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            return super().compose_node(parent, index)
        if len(self._path) >= MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels", mark)
        if isinstance(index, ScalarNode):
            step = index.value
        elif isinstance(index, int):
            step = f"[{index}]"
        else:
            step = "?"  # the document itself, or a mapping's key
        self._path.append(step)
        try:
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        # Only the keys written here: keys merged in with `<<` may be overridden, as YAML says.
        first: dict[tuple[str, str], ScalarNode] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                continue  # a list or a mapping as a key is refused later, as an unknown key
            earlier = first.setdefault((key.tag, key.value), key)
            if earlier is not key:
                path = _key_path(self._path[1:], key.value)
                self.duplicates.append(_Duplicate(path, earlier.start_mark, key.start_mark))
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # `!!int abc`, or a number of more digits than Python converts: a line, not a traceback.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError):
            tag = node.tag.replace(_CORE, "!!")
            raise _Refused(f"cannot read this value as {tag}", node.start_mark) from None


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in {_CORE + "bool", _CORE + "timestamp", _CORE + "value"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _CORE + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_yaml(path: Path) -> object:
    """The file's YAML as plain data (dicts, lists, strings, numbers, booleans, None).

    Raises ConfigError naming the file (and the line, where there is one).
    """
    source = str(path)
    text = _decode(source, _read(source, path))
    try:
        return _load(text, source)
    except _Refused as e:
        raise ConfigError(source, [ConfigProblem("", f"{_where(e.mark)}{e.message}")]) from None
    except yaml.reader.ReaderError as e:
        line, column = _position(text, e.position)
        problem = (
            f"line {line}, column {column}: "
            f"the character U+{e.character:04X} is not allowed in YAML"
        )
        raise ConfigError(source, [ConfigProblem("", problem)]) from None
    except yaml.YAMLError as e:
        raise ConfigError(source, [ConfigProblem("", _yaml_problem(e))]) from None


def _load(text: str, source: str) -> object:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        problems = [duplicate.problem for duplicate in loader.duplicates]
        if root is not None:
            problems += _graph_problems(root, aliased=loader.aliases > 0)
        if problems:
            raise ConfigError(source, problems)
        return None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _read(source: str, path: Path) -> bytes:
    try:
        # Looked at before opening: opening a named pipe waits for a writer, forever, and
        # opening a device may do something. Opened without waiting, and looked at again, in
        # case the file was replaced in between.
        _regular(source, path.stat().st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            _regular(source, os.fstat(fd).st_mode)
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem("", "file not found")]) from None
    except OSError as e:
        raise ConfigError(
            source, [ConfigProblem("", f"cannot read the file: {e.strerror or e}")]
        ) from None
    if len(data) > MAX_BYTES:
        message = (
            f"the file is larger than {MAX_BYTES // 1024 // 1024} MiB; "
            "a configuration is a few kilobytes"
        )
        raise ConfigError(source, [ConfigProblem("", message)])
    return data


def _regular(source: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a file")
        message = f"expected a regular file, got {kind}; give the path of the YAML file"
        raise ConfigError(source, [ConfigProblem("", message)])


def _decode(source: str, data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        message = "the file is UTF-16 or UTF-32 text; save it as UTF-8"
        raise ConfigError(source, [ConfigProblem("", message)])
    wide = _wide_encoding(data)
    if wide:
        message = f"the file looks like {wide} text without a byte-order mark; save it as UTF-8"
        raise ConfigError(source, [ConfigProblem("", message)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[start : e.start].decode("utf-8-sig", errors="replace")) + 1
        message = (
            f"line {line}, column {column}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
            "save the file as UTF-8"
        )
        raise ConfigError(source, [ConfigProblem("", message)]) from None


def _wide_encoding(data: bytes) -> str | None:
    """`UTF-16` or `UTF-32` when the file starts like ASCII text in one of them: every character
    a letter's byte beside one or three zero bytes, which UTF-8 text never has."""
    for width, name in ((4, "UTF-32"), (2, "UTF-16")):
        sample = data[:32]
        sample = sample[: len(sample) - len(sample) % width]
        if not sample:
            continue
        for text_at in (0, width - 1):  # little-endian, big-endian
            zeros = [b for i, b in enumerate(sample) if i % width != text_at]
            text = sample[text_at::width]
            if not any(zeros) and all(text):
                return name
    return None


class _Size(NamedTuple):
    """A node's size with every alias under it expanded (values and text capped past the
    limits, so that the sums stay small numbers)."""

    values: int
    depth: int
    text: int


def _graph_problems(root: Node, *, aliased: bool) -> list[ConfigProblem]:
    """Tags, cycles, and the size and depth of the document with every alias expanded.

    Walks each distinct node once (an alias is the node it names), without recursion: the
    expanded size of a node is one plus its children's, so nested aliases multiply here as
    numbers, not as copies.
    """
    expanded: dict[int, _Size] = {}  # id(node) → its size once expanded
    expanding: set[int] = set()
    pending: list[tuple[Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if children_done:
            expanding.discard(id(node))
            sizes = [expanded[id(child)] for child in _children(node)]
            values = min(1 + sum(s.values for s in sizes), MAX_VALUES + 1)
            depth = 1 + max((s.depth for s in sizes), default=0)
            own = len(node.value) if isinstance(node, ScalarNode) else 0
            text = min(own + sum(s.text for s in sizes), MAX_TEXT + 1)
            expanded[id(node)] = _Size(values, depth, text)
            if depth > MAX_DEPTH:
                hint = " once its YAML aliases are expanded" if aliased else ""
                return [_at(node, f"nested deeper than {MAX_DEPTH} levels{hint}")]
            if values > MAX_VALUES:
                if aliased:
                    message = (
                        f"its YAML aliases (*name) expand to more than {MAX_VALUES:,} values; "
                        "write the shared values out, or share smaller blocks"
                    )
                else:
                    message = f"the file holds more than {MAX_VALUES:,} values"
                return [_at(node, message)]
            if text > MAX_TEXT:
                # Only aliases get here (see MAX_TEXT): `${VAR}` would be substituted in
                # every copy of a long string, costing minutes and gigabytes.
                message = (
                    f"its YAML aliases (*name) expand to more than "
                    f"{MAX_TEXT // 1024 // 1024} MiB of text; write the shared values out, "
                    "or share smaller blocks"
                )
                return [_at(node, message)]
            continue
        if id(node) in expanded:
            continue
        if id(node) in expanding:
            return [_at(node, "a YAML alias (*name) is used inside the value it names")]
        if node.tag not in _PLAIN_TAGS and node.tag != _MERGE:
            tag = shortened(node.tag.replace(_CORE, "!!"))
            return [_at(node, f"the YAML tag {tag} is not supported: write a plain value")]
        expanding.add(id(node))
        pending.append((node, True))
        pending.extend((child, False) for child in _children(node) if id(child) not in expanded)
    return []


def _children(node: Node) -> Sequence[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return ()


def _key_path(path: Sequence[str], key: str) -> str:
    """`api`, `regions.westeurope`, `checks.https.requests[0].expect`: as errors name keys."""
    dotted = ""
    for step in [*path, key]:
        dotted += step if step.startswith("[") or not dotted else f".{step}"
    return dotted


def _at(node: Node, message: str) -> ConfigProblem:
    return ConfigProblem("", f"{_where(node.start_mark)}{message}")


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    if context and problem.startswith("but "):
        problem = f"{context}, {problem}"  # "expected a single document in the stream, but ..."
    if "'\\t'" in problem:
        problem += " (indent with spaces: YAML does not allow tabs there)"
    # PyYAML quotes what it found (an alias's name, a tag), whatever its length.
    return f"{_where(mark)}invalid YAML: {shortened(problem, _PARSER_TEXT)}"
