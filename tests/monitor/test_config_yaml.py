"""Reading the configuration file: encodings, YAML features that bite, and the limits that keep
a small file from costing minutes or gigabytes. Each case is one clear ConfigError line."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from monitor.config import Config, load_config
from monitor.configfile import MAX_BYTES, MAX_DEPTH, MAX_TEXT, MAX_VALUES
from monitor.errors import ConfigError

MINIMAL = "site: {hostname: blog.example.com}\nregions: {westeurope: {address: 20.1.2.3}}\n"


def alias_bomb(levels: int = 9, fan_out: int = 9) -> str:
    """A few hundred bytes of nested aliases that expand to fan_out ** levels strings."""
    lines = [f"  a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * fan_out)
        lines.append(f"  a{level}: &a{level} [{refs}]")
    return MINIMAL + "vantage:\n" + "\n".join(lines) + "\n"


def string_bomb(length: int, fan_out: int = 90) -> str:
    """One string of `length` characters of `$$`, a list of `fan_out` aliases of it, and a list
    of `fan_out` aliases of that list: a few thousand values, but `fan_out` squared copies of
    the string once `${}` interpolation substitutes in every alias."""
    refs = ", ".join(["*s"] * fan_out)
    lists = ", ".join(["*l"] * fan_out)
    string = "x$$" * (length // 3)
    return MINIMAL + f"vantage:\n  s: &s '{string}'\n  l: &l [{refs}]\n  m: [{lists}]\n"


def write_bytes(folder: Path, data: bytes) -> Path:
    path = folder / "config.yaml"
    path.write_bytes(data)
    return path


def error_of(folder: Path, text: str | bytes) -> str:
    """The one-line-per-problem text of the ConfigError loading `text` raises."""
    path = write_bytes(folder, text.encode() if isinstance(text, str) else text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return str(caught.value).replace(f"{path}: ", "FILE: ")


def loads(folder: Path, text: str) -> Config:
    return load_config(write_bytes(folder, text.encode()), env={})


# --- duplicate keys --------------------------------------------------------------------------


def test_a_second_api_section_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    """An appended `api:` block no longer silently replaces the one that set the token."""
    text = (
        MINIMAL + "api:\n  token: s3cret\n  listen: 127.0.0.1:8000\napi:\n  listen: 0.0.0.0:8000\n"
    )
    assert error_of(tmp_path, text) == "FILE: api: duplicate key: first at line 3, again at line 6"


def test_a_repeated_region_name_is_an_error_naming_the_region(tmp_path: Path) -> None:
    """Two regions of one name would silently drop the first: the region and both lines named."""
    text = (
        "site: {hostname: blog.example.com}\n"
        "regions:\n"
        "  westeurope: {address: 20.1.2.3}\n"
        "  centralus: {address: 52.165.160.200}\n"
        "  westeurope: {address: 20.1.2.4}\n"
    )
    assert error_of(tmp_path, text) == (
        "FILE: regions.westeurope: duplicate key: first at line 3, again at line 5"
    )


def test_a_duplicate_deep_in_a_list_item_names_its_full_key_path(tmp_path: Path) -> None:
    """A repeated key inside a request's expectations is named by its path, with the list index."""
    text = MINIMAL + (
        "checks:\n"
        "  https:\n"
        "    requests:\n"
        "      - name: home\n"
        "        expect:\n"
        "          status: [200]\n"
        "          status: [301]\n"
    )
    assert error_of(tmp_path, text) == (
        "FILE: checks.https.requests[0].expect.status: duplicate key: "
        "first at line 8, again at line 9"
    )


def test_a_duplicate_in_a_flow_mapping_names_both_columns(tmp_path: Path) -> None:
    """Both copies on one line: the columns tell them apart."""
    text = MINIMAL + "api: {listen: 127.0.0.1:8000, listen: 0.0.0.0:8000}\n"
    assert error_of(tmp_path, text) == (
        "FILE: api.listen: duplicate key: twice on line 3 (columns 7 and 31)"
    )


def test_every_duplicate_is_reported_at_once(tmp_path: Path) -> None:
    """Two duplicates in different sections are two lines of one error."""
    text = MINIMAL + "storage: {path: a.db}\nstorage: {path: b.db}\nrole: decider\nrole: observer\n"
    assert error_of(tmp_path, text).splitlines() == [
        "FILE: storage: duplicate key: first at line 3, again at line 4",
        "FILE: role: duplicate key: first at line 5, again at line 6",
    ]


def test_a_key_merged_in_with_a_merge_key_may_be_overridden_but_not_repeated(
    tmp_path: Path,
) -> None:
    """`<<: *home` then `path:` is YAML's override and loads as written; writing `path:` twice
    beside it is still a duplicate."""
    requests = (
        MINIMAL
        + "checks:\n"
        + "  https:\n"
        + "    requests:\n"
        + "      - &home {name: home, path: /, expect: {status: [200]}}\n"
        + "      - {<<: *home, name: about, path: /about}\n"
    )
    loaded = loads(tmp_path, requests).checks.https.requests
    assert [(r.name, r.path, r.expect.status) for r in loaded] == [
        ("home", "/", [200]),
        ("about", "/about", [200]),
    ]
    assert error_of(tmp_path, requests.replace("path: /about}", "path: /about, path: /a}")) == (
        "FILE: checks.https.requests[1].path: duplicate key: twice on line 7 (columns 34 and 48)"
    )


# --- aliases ---------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_quickly_with_little_memory(tmp_path: Path) -> None:
    """Nested aliases that would expand to 387 million strings are refused before expanding:
    well under a second of CPU and a few megabytes (they once took 80 s and 5.7 GB)."""
    text = alias_bomb()
    assert len(text) < 800
    path = write_bytes(tmp_path, text.encode())
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        cpu = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (
        f"{path}: line 8, column 7: its YAML aliases (*name) expand to more than 10,000 values; "
        "write the shared values out, or share smaller blocks"
    )
    assert cpu < 1.0
    assert peak < 10 * 1024 * 1024


def test_a_long_string_repeated_by_aliases_is_refused_quickly_with_little_memory(
    tmp_path: Path,
) -> None:
    """A 60 KB string of `$$` under 8,100 aliases (500 MB of text) is refused before
    interpolation runs, in well under a second and a few megabytes; with 480 KB it once ran
    for minutes past 1.8 GB."""
    text = string_bomb(60_000)
    path = write_bytes(tmp_path, text.encode())
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        cpu = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (
        f"{path}: line 5, column 6: its YAML aliases (*name) expand to more than 1 MiB of text; "
        "write the shared values out, or share smaller blocks"
    )
    assert cpu < 1.0
    assert peak < 20 * 1024 * 1024


def test_aliased_text_up_to_the_limit_loads(tmp_path: Path) -> None:
    """The limit counts each alias as often as it is used: two copies of a string just under
    half of MAX_TEXT load (and are interpolated in each copy); just over half, refused."""

    def shared_twice(body: str) -> str:
        return MINIMAL + (
            "checks:\n  https:\n    requests:\n"
            f"      - {{name: home, expect: &e {{body_contains: '{body}$$'}}}}\n"
            "      - {name: about, path: /about, expect: *e}\n"
        )

    body = "x" * (MAX_TEXT // 2 - 1024)
    requests = loads(tmp_path, shared_twice(body)).checks.https.requests
    assert [r.expect.body_contains for r in requests] == [body + "$", body + "$"]
    over = error_of(tmp_path, shared_twice("x" * (MAX_TEXT // 2)))
    assert over == (
        "FILE: line 6, column 7: its YAML aliases (*name) expand to more than 1 MiB of text; "
        "write the shared values out, or share smaller blocks"
    )


def test_an_alias_is_accepted_except_inside_the_value_it_names(tmp_path: Path) -> None:
    """An anchor used again (a shared `expect`) loads; a recursive alias, which would make
    interpolation recurse forever (a RecursionError), is refused with its line."""
    text = MINIMAL + (
        "checks:\n"
        "  https:\n"
        "    requests:\n"
        "      - {name: home, path: /, expect: &page {status: [200], body_contains: '</html>'}}\n"
        "      - {name: about, path: /about, expect: *page}\n"
    )
    requests = loads(tmp_path, text).checks.https.requests
    assert [r.expect.body_contains for r in requests] == ["</html>", "</html>"]
    assert error_of(tmp_path, MINIMAL + "vantage: &loop [*loop]\n") == (
        "FILE: line 3, column 10: a YAML alias (*name) is used inside the value it names"
    )


def test_aliases_cannot_nest_deeper_than_the_limit_once_expanded(tmp_path: Path) -> None:
    """A chain of aliases each one level deeper is as deep as it reads once expanded."""
    lines = ["  d0: &d0 [x]"] + [f"  d{i}: &d{i} [*d{i - 1}]" for i in range(1, MAX_DEPTH + 1)]
    text = MINIMAL + "vantage:\n" + "\n".join(lines) + "\n"
    assert error_of(tmp_path, text) == (
        f"FILE: line {MAX_DEPTH + 3}, column 8: nested deeper than {MAX_DEPTH} levels "
        "once its YAML aliases are expanded"
    )


# --- nesting, size, encoding -----------------------------------------------------------------


def test_deeply_nested_flow_sequences_are_refused_without_recursion_error(tmp_path: Path) -> None:
    """Thousands of `[` once raised RecursionError (exit 1, a traceback); now a line and column."""
    text = MINIMAL + "vantage: " + "[" * 5000 + "]" * 5000 + "\n"
    assert error_of(tmp_path, text) == (
        f"FILE: line 3, column {9 + MAX_DEPTH}: nested deeper than {MAX_DEPTH} levels"
    )


def test_a_file_of_more_values_than_the_limit_is_refused(tmp_path: Path) -> None:
    """Without aliases too, a document of more than MAX_VALUES values is not a configuration."""
    text = MINIMAL + "vantage: [" + ", ".join(["1"] * MAX_VALUES) + "]\n"
    assert error_of(tmp_path, text) == (
        f"FILE: line 3, column 10: the file holds more than {MAX_VALUES:,} values"
    )


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    """A huge file (or a device) is not read whole: one line says why."""
    text = MINIMAL + "# " + "x" * MAX_BYTES + "\n"
    assert error_of(tmp_path, text) == (
        "FILE: the file is larger than 1 MiB; a configuration is a few kilobytes"
    )


def test_a_file_that_is_not_utf8_names_the_line_and_column(tmp_path: Path) -> None:
    """A Latin-1 byte once raised UnicodeDecodeError (exit 1, a traceback)."""
    data = MINIMAL.encode() + "storage: {path: café.db}\n".encode("latin-1")
    assert error_of(tmp_path, data) == (
        "FILE: line 3, column 20: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    )


def test_a_utf8_bom_is_accepted_and_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    """Editors on Windows write a BOM: it is not part of the first key. A file saved as UTF-16
    says so instead of a byte at column 1."""
    path = write_bytes(tmp_path, b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_config(path, env={}).site.hostname == "blog.example.com"
    assert error_of(tmp_path, MINIMAL.encode("utf-16")) == (
        "FILE: the file is UTF-16 or UTF-32 text; save it as UTF-8"
    )


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32-le", "UTF-32"),
     ("utf-32-be", "UTF-32")],
)  # fmt: skip
def test_utf16_or_utf32_without_a_byte_order_mark_is_named_as_such(
    tmp_path: Path, encoding: str, name: str
) -> None:
    """Without a BOM, such a file once read as UTF-8 with a NUL at column 2."""
    assert error_of(tmp_path, MINIMAL.encode(encoding)) == (
        f"FILE: the file looks like {name} text without a byte-order mark; save it as UTF-8"
    )


def test_a_named_pipe_or_a_folder_is_refused_without_waiting(tmp_path: Path) -> None:
    """Opening a named pipe waits for a writer: `--config` naming one once hung forever. It
    and a folder are refused before they are opened."""
    pipe = tmp_path / "config.yaml"
    os.mkfifo(pipe)
    with pytest.raises(ConfigError) as caught:
        load_config(pipe, env={})
    assert str(caught.value) == (
        f"{pipe}: expected a regular file, got a named pipe; give the path of the YAML file"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    assert str(caught.value) == (
        f"{tmp_path}: expected a regular file, got a folder; give the path of the YAML file"
    )


def test_a_control_character_names_its_line_and_column(tmp_path: Path) -> None:
    """A NUL byte is one line with its position, not PyYAML's two-line `<unicode string>` text."""
    assert error_of(tmp_path, MINIMAL + "vantage: a\x00b\n") == (
        "FILE: line 3, column 11: the character U+0000 is not allowed in YAML"
    )


def test_a_tab_used_for_indentation_says_to_use_spaces(tmp_path: Path) -> None:
    """YAML refuses tabs for indentation; the message says what to do."""
    assert error_of(tmp_path, MINIMAL + "api:\n\tlisten: 127.0.0.1:8000\n") == (
        "FILE: line 4, column 1: invalid YAML: found character '\\t' that cannot start any "
        "token (indent with spaces: YAML does not allow tabs there)"
    )


def test_two_documents_in_one_file_are_refused(tmp_path: Path) -> None:
    """A second `---` document would be ignored by a careless loader; here it is named."""
    assert error_of(tmp_path, MINIMAL + "---\n" + MINIMAL) == (
        "FILE: line 3, column 1: invalid YAML: expected a single document in the stream, "
        "but found another document"
    )


# --- tags and typed scalars ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('!!python/object/apply:os.system ["true"]', "!!python/object/apply:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!custom value", "!custom"),
    ],
)
def test_yaml_tags_beyond_plain_values_are_refused(tmp_path: Path, value: str, tag: str) -> None:
    """SafeLoader's refusal of !!python/object, and tags it would build (bytes, sets), are one
    clean line naming the tag."""
    assert error_of(tmp_path, MINIMAL + f"vantage: {value}\n") == (
        f"FILE: line 3, column 10: the YAML tag {tag} is not supported: write a plain value"
    )


def test_an_explicit_int_tag_on_a_word_names_its_line(tmp_path: Path) -> None:
    """`!!int abc` once raised ValueError while building the value; now a line and column."""
    assert error_of(tmp_path, MINIMAL + "checks: {https: {samples: !!int abc}}\n") == (
        "FILE: line 3, column 27: cannot read this value as !!int"
    )


def test_a_number_too_long_to_convert_names_its_line(tmp_path: Path) -> None:
    """Python refuses to convert integers of more than 4300 digits: a line, not a traceback."""
    assert error_of(tmp_path, MINIMAL + "checks: {https: {samples: " + "9" * 5000 + "}}\n") == (
        "FILE: line 3, column 27: cannot read this value as !!int"
    )


def test_an_unquoted_date_stays_a_string(tmp_path: Path) -> None:
    """No key takes a date, so `2024-13-45` is text, never a ValueError from the date parser."""
    assert loads(tmp_path, MINIMAL + "vantage: 2024-13-45\n").vantage == "2024-13-45"
