"""
Generates indexer/tables/clip-text-data.ts: the character tables the TypeScript CLIP tokenizer
needs to reproduce open_clip's SimpleTokenizer exactly (ftfy.fix_text, html.unescape, Python's
str.isspace / str.lower, and the `regex` module's classes in open_clip's pre-tokenisation regex).

Run with the project venv (which has open_clip's pinned ftfy and regex):

    .venv/bin/python indexer/tables/generate_clip_text_tables.py

The output is committed; rerun only when the venv's ftfy, regex or Python changes. The tables
are data taken from ftfy (Apache-2.0, Robyn Speer), CPython's html.entities (PSF licence) and
Unicode's character database, as seen by the Python that open_clip runs on.
"""

from __future__ import annotations

import html
import html.entities
import json
import os
import re
import sys
import unicodedata

import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers the sloppy codecs)
import regex
from ftfy import badness, chardata

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clip-text-data.ts")
MAX = 0x110000


def ranges(pred) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = None
    for cp in range(MAX + 1):
        ok = cp < MAX and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def esc(cp: int) -> str:
    """A code point as a JS regex / string escape that is safe inside and outside classes."""
    return "\\u{%x}" % cp


def js_class_body(rs: list[tuple[int, int]]) -> str:
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in rs)


# --- Python's own notions (CPython's unicodedata, the version the tokenizer runs with) -----------

py_space = [cp for cp in range(MAX) if chr(cp).isspace()]
py_unassigned = ranges(lambda cp: unicodedata.category(chr(cp)) == "Cn")
re_word = ranges(lambda cp: re.fullmatch(r"\w", chr(cp)) is not None)
re_space = ranges(lambda cp: re.fullmatch(r"\s", chr(cp)) is not None)

# --- open_clip's pre-tokenisation regex (regex module, IGNORECASE) -------------------------------

L = regex.compile(r"[\p{L}]", regex.IGNORECASE)
N = regex.compile(r"[\p{N}]", regex.IGNORECASE)
O = regex.compile(r"[^\s\p{L}\p{N}]", regex.IGNORECASE)
tok_l = ranges(lambda cp: L.fullmatch(chr(cp)) is not None)
tok_n = ranges(lambda cp: N.fullmatch(chr(cp)) is not None)
tok_o = ranges(lambda cp: O.fullmatch(chr(cp)) is not None)
literal_chars = sorted(set("<start_of_text><end_of_text>'s't're've'm'll'd"))
folds = {}
for ch in literal_chars:
    r = regex.compile(regex.escape(ch), regex.IGNORECASE)
    folds[ch] = [cp for cp in range(MAX) if r.fullmatch(chr(cp))]


# --- ftfy ------------------------------------------------------------------------------------------

def verbose_to_js(pattern: str) -> str:
    """Python verbose-mode regex source to a JS `u`-mode source with the same meaning."""
    out = []
    i = 0
    in_class = False
    class_start = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1]
            i += 2
            if nxt == "s":
                out.append(js_class_body(re_space) if in_class else f"[{js_class_body(re_space)}]")
            elif nxt == "w":
                out.append(js_class_body(re_word) if in_class else f"[{js_class_body(re_word)}]")
            elif nxt == "x":
                out.append(esc(int(pattern[i : i + 2], 16)))
                i += 2
            elif nxt == "u":
                out.append(esc(int(pattern[i : i + 4], 16)))
                i += 4
            else:
                raise ValueError(f"unhandled escape \\{nxt}")
            class_start = False
            continue
        if in_class:
            if c == "]" and not class_start:
                in_class = False
                out.append("]")
            elif c == "^" and class_start:
                out.append("^")
                i += 1
                continue  # a leading ^ keeps class_start for a following ]
            elif c == "-":
                out.append("-")
            elif c.isalnum() and ord(c) < 128:
                out.append(c)
            else:
                out.append(esc(ord(c)))
            class_start = False
            i += 1
            continue
        if c in " \t\n\r\f\v":
            i += 1
            continue
        if c == "#":
            while i < len(pattern) and pattern[i] != "\n":
                i += 1
            continue
        if c == "[":
            in_class = True
            class_start = True
            out.append("[")
        elif c == ".":
            out.append("[^\\n]")  # Python's '.' excludes only \n; JS's also \r, \u2028, \u2029
        elif c in "|()?*+{}^$!<":
            out.append(c)
        elif c.isalnum() and ord(c) < 128:
            out.append(c)
        else:
            out.append(esc(ord(c)))
        i += 1
    assert not in_class
    return "".join(out)


badness_js = verbose_to_js(badness.BADNESS_RE.pattern)
utf8_detector_js = verbose_to_js(chardata.UTF8_DETECTOR_RE.pattern)

charmaps = {}
for enc in chardata.CHARMAP_ENCODINGS:
    table = bytes(range(256)).decode(enc)
    assert len(table) == 256
    assert len(set(table)) == 256, enc  # encoding is then the exact inverse
    charmaps[enc] = [ord(c) for c in table]
strict_1252 = []
for b in range(256):
    try:
        strict_1252.append(ord(bytes([b]).decode("windows-1252")))
    except UnicodeDecodeError:
        strict_1252.append(-1)

ftfy_upper = {k: v for k, v in chardata.HTML_ENTITIES.items() if k[1:] not in html.entities.html5}
for k, v in chardata.HTML_ENTITIES.items():
    if k[1:] in html.entities.html5:
        assert html.entities.html5[k[1:]] == v

# Sanity: the expressions we rely on in the TypeScript port are the ones we read here.
assert chardata.HTML_ENTITY_RE.pattern == r"&#?[0-9A-Za-z]{1,24};"
assert chardata.C1_CONTROL_RE.pattern == r"[\x80-\x9f]"
assert sorted(chardata.CONTROL_CHARS) == (
    list(range(0, 9)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F] + list(range(0x206A, 0x2070)) + [0xFEFF] + list(range(0xFFF9, 0xFFFD))
)
assert chardata.CHARMAP_ENCODINGS == [
    "latin-1", "sloppy-windows-1252", "sloppy-windows-1251", "sloppy-windows-1250", "sloppy-windows-1253",
    "sloppy-windows-1254", "sloppy-windows-1257", "iso-8859-2", "macroman", "cp437",
]
cfg = ftfy.TextFixerConfig()
assert (cfg.unescape_html, cfg.normalization, cfg.max_decode_length) == ("auto", "NFC", 1000000)
assert all(getattr(cfg, f) for f in (
    "remove_terminal_escapes", "fix_encoding", "restore_byte_a0", "replace_lossy_sequences", "decode_inconsistent_utf8",
    "fix_c1_controls", "fix_latin_ligatures", "fix_character_width", "uncurl_quotes", "fix_line_breaks",
    "fix_surrogates", "remove_control_chars"))


def js(v) -> str:
    return json.dumps(v, ensure_ascii=True, separators=(",", ":"))


def rs_js(rs) -> str:
    return js([[a, b] for a, b in rs])


lines = [
    "// GENERATED by indexer/tables/generate_clip_text_tables.py — do not edit by hand.",
    f"// Python {sys.version.split()[0]} (unicodedata {unicodedata.unidata_version}), ftfy {ftfy.__version__}, regex {regex.__version__}.",
    "// Data from ftfy (Apache-2.0), CPython html.entities (PSF) and the Unicode Character Database.",
    "/* eslint-disable */",
    "",
    "/** Code points for which Python's str.isspace() is true. */",
    f"export const PY_SPACE: number[] = {js(py_space)};",
    "/** Ranges unassigned (Cn) in the Unicode version of Python's unicodedata: lower() and NFC leave them alone. */",
    f"export const PY_UNASSIGNED: Array<[number, number]> = {rs_js(py_unassigned)};",
    "/** open_clip's pre-tokenisation classes, as the regex module sees them with IGNORECASE. */",
    f"export const TOKEN_LETTER_CLASS = {js(js_class_body(tok_l))};",
    f"export const TOKEN_NUMBER_CLASS = {js(js_class_body(tok_n))};",
    f"export const TOKEN_OTHER_CLASS = {js(js_class_body(tok_o))};",
    "/** For each character of the literal alternatives, every code point that matches it case-insensitively. */",
    f"export const TOKEN_LITERAL_FOLDS: Record<string, number[]> = {js(folds)};",
    "/** html.entities.html5 (names with and without ';'). */",
    f"export const HTML5_ENTITIES: Record<string, string> = {js(html.entities.html5)};",
    "/** ftfy's extra all-caps entities (e.g. '&EACUTE;'), beyond the html5 ones ending in ';'. */",
    f"export const FTFY_UPPER_ENTITIES: Record<string, string> = {js(ftfy_upper)};",
    "/** Decoding tables (byte → code point) of ftfy's single-byte encodings, in ftfy's order. */",
    f"export const CHARMAPS: Record<string, number[]> = {js(charmaps)};",
    "/** Python's strict windows-1252 decoding (-1: undefined byte, a UnicodeDecodeError). */",
    f"export const STRICT_WINDOWS_1252: number[] = {js(strict_1252)};",
    "/** ftfy.badness.BADNESS_RE as a JS `u` regex source. */",
    f"export const BADNESS_SOURCE = {js(badness_js)};",
    "/** ftfy.chardata.UTF8_DETECTOR_RE as a JS `u` regex source. */",
    f"export const UTF8_DETECTOR_SOURCE = {js(utf8_detector_js)};",
    "/** ftfy.chardata.WIDTH_MAP. */",
    f"export const WIDTH_MAP: Array<[number, string]> = {js(sorted(chardata.WIDTH_MAP.items()))};",
    "/** ftfy.chardata.LIGATURES. */",
    f"export const LIGATURES: Array<[number, string]> = {js(sorted(chardata.LIGATURES.items()))};",
    "",
]
with open(OUT, "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")
