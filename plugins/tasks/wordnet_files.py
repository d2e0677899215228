"""A reader for WordNet 3.0's database files (format: `man 5 wndb`), as Debian's `wordnet-base`
installs them in /usr/share/wordnet.

data.POS holds one synset a line after a license header (lines that start with two spaces):

    offset lex_filenum ss_type w_cnt(hex) word lex_id(hex) [word lex_id ...] p_cnt
        [symbol offset pos source/target ...] [f_cnt + f_num w_num ...  (verbs)] | gloss; "example"

index.POS lists each lemma's synsets in sense order (most frequent sense first):

    lemma pos synset_cnt p_cnt [ptr_symbol ...] sense_cnt tagsense_cnt offset [offset ...]

Only what ablab uses is kept: a synset's words, pointers, lexicographer file and gloss; a
lemma's synsets in order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from ablab.core.errors import ConfigError

POS = ("noun", "verb", "adj", "adv")
INSTALL = "install WordNet 3.0 with `apt-get install wordnet-base` (Debian/Ubuntu), or set the task's data option"


class Pointer(NamedTuple):  # a tuple: built ~300,000 times per load
    symbol: str  # "!" antonym, "&" similar to, "@" hypernym, ... (man 5 wninput)
    offset: int
    pos: str  # n v a s r
    source: int  # word number in this synset (1-based); 0: the whole synset
    target: int


class Synset(NamedTuple):
    offset: int
    lexfile: int  # lexicographer file number (man 5 lexnames): 3 noun.Tops ... 44 adj.ppl
    pos: str  # n v a s r
    words: tuple[str, ...]  # as written, lower-cased, syntactic markers "(a)" removed
    pointers: tuple[Pointer, ...]
    gloss: str  # definition and examples after "|"


@dataclass(frozen=True)
class WordNet:
    synsets: dict[tuple[str, int], Synset]  # (file pos: "n" "v" "a" "r", offset)
    senses: dict[tuple[str, str], tuple[int, ...]]  # (file pos, lemma) -> offsets, most frequent sense first


def _fail(path: str, number: int, why: str) -> ConfigError:
    return ConfigError(f"{path}:{number}: not a WordNet line ({why}); is this a WordNet 3.0 database file?")


def parse_data_line(line: str, path: str = "data", number: int = 0, symbols=None) -> Synset:
    """One synset line of a data.POS file; only the pointers whose symbol is in `symbols` are
    kept (None: all of them)."""
    head, bar, gloss = line.partition("|")
    if not bar:
        raise _fail(path, number, "no '|' before the gloss")
    f = head.split()
    try:
        offset, lexfile, pos, count = int(f[0]), int(f[1]), f[2], int(f[3], 16)
        words = tuple(w.split("(")[0].lower() for w in f[4 : 4 + 2 * count : 2])
        at = 4 + 2 * count
        n_pointers = int(f[at])
        pointers = []
        for k in range(n_pointers):
            symbol, target, target_pos, st = f[at + 1 + 4 * k : at + 5 + 4 * k]
            if symbols is not None and symbol not in symbols:
                continue
            pointers.append(Pointer(symbol, int(target), target_pos, int(st[:2], 16), int(st[2:], 16)))
    except (ValueError, IndexError) as e:
        raise _fail(path, number, f"bad field: {e}") from None
    if pos not in "nvasr" or len(pos) != 1 or len(words) != count or not count:
        raise _fail(path, number, f"synset type {pos!r} or word count {count}")
    return Synset(offset, lexfile, pos, words, tuple(pointers), gloss.strip())


def parse_index_line(line: str, path: str = "index", number: int = 0) -> tuple[str, str, tuple[int, ...]]:
    """(lemma, pos, offsets in sense order) of one index.POS line."""
    f = line.split()
    try:
        lemma, pos, n_synsets, n_symbols = f[0], f[1], int(f[2]), int(f[3])
        offsets = tuple(int(x) for x in f[4 + n_symbols + 2 :])
    except (ValueError, IndexError) as e:
        raise _fail(path, number, f"bad field: {e}") from None
    if len(offsets) != n_synsets:
        raise _fail(path, number, f"{n_synsets} synsets announced, {len(offsets)} listed")
    return lemma, pos, offsets


def _lines(path: str):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.startswith("  ") or not line.strip():  # the license header
                continue
            yield number, line


def check_directory(directory: str) -> None:
    """Raise ConfigError unless `directory` holds the eight files read here."""
    if not isinstance(directory, str) or not directory:
        raise ConfigError(f"WordNet data must be a directory path (text), got {directory!r}")
    missing = [
        f"{kind}.{pos}"
        for pos in POS
        for kind in ("data", "index")
        if not os.path.isfile(os.path.join(directory, f"{kind}.{pos}"))
    ]
    if missing:
        raise ConfigError(f"WordNet files not found in {directory}: {', '.join(missing)}; {INSTALL}")


ANTONYM = "!"


@cache
def load(directory: str, symbols: tuple[str, ...] = (ANTONYM,)) -> WordNet:
    """Every synset and every lemma's sense list under `directory`, parsed once per process;
    synsets keep only the pointers named in `symbols` (the antonyms by default: building all
    ~300,000 pointers would double the time to load)."""
    check_directory(directory)
    synsets, senses = {}, {}
    for pos in POS:
        path = os.path.join(directory, f"data.{pos}")
        for number, line in _lines(path):
            s = parse_data_line(line, path, number, symbols)
            synsets[("a" if s.pos == "s" else s.pos, s.offset)] = s
        path = os.path.join(directory, f"index.{pos}")
        for number, line in _lines(path):
            lemma, p, offsets = parse_index_line(line, path, number)
            senses[(p, lemma)] = offsets
    return WordNet(synsets, senses)
