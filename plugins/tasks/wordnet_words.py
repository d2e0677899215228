"""Words from WordNet: its glosses and examples as sentences, and the word pairs and two-sense
words the relatedness and polysemy claims compare. Pure functions of a parsed WordNet
(wordnet_files.WordNet) and corpus counts; the rules are unit-tested on a hand-written database.

- antonyms: WordNet's direct antonyms (pointer "!", a relation between two words).
- synonyms: two words of one synset.
- two-sense words: nouns whose first sense and a later one (among the first MAX_SENSE) lie in
  different lexicographer files (noun.object vs noun.group for "bank"); each sense's words are
  the synset's other words, then the content words of its definition, shared ones dropped.
Only single words (no "_", letters only) count, since the corpus is split into words.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ablab.plugins.tasks.wordnet_files import WordNet

WORD = re.compile(r"[a-z]+")
MAX_SENSE = 3  # the second sense must be among the first 3 (WordNet orders senses by use)
# function words: never a sense's word (they say nothing about the sense)
STOP = frozenset(
    """a an the of to in on at by for from with without into onto upon over under about above below
    and or but nor not no as than then that which who whom whose what when where why how this these
    those it its is are was were be been being has have had do does did can could may might must
    shall should will would one ones some any each every all both either neither other such same
    very more most less least much many few own so too also only just used especially usually
    something someone somebody anything thing things etc e g i often esp
    he she it they we you me him her us them his hers our ours their theirs my mine your yours""".split()
)


def tokens(text: str) -> list[str]:
    return WORD.findall(text.lower())


def single(word: str) -> bool:
    return word.isalpha() and word.isascii()


def sentences(wn: WordNet) -> dict[tuple[str, int], list[list[str]]]:
    """Each synset's definition and example sentences (its gloss split at ';'), as lower-case
    words, in file order."""
    out = {}
    for key, synset in wn.synsets.items():
        words = [w for w in (tokens(part) for part in synset.gloss.split(";")) if w]
        if words:
            out[key] = words
    return out


def _pos(p: str) -> str:
    return "a" if p == "s" else p


def antonyms(wn: WordNet) -> list[tuple[str, str]]:
    """Direct antonym pairs (a, b), a < b, single words, each pair once."""
    out = set()
    for synset in wn.synsets.values():
        for p in synset.pointers:
            if p.symbol != "!" or not p.source or not p.target:
                continue
            other = wn.synsets.get((_pos(p.pos), p.offset))
            if other is None or p.target > len(other.words):
                continue
            a, b = synset.words[p.source - 1], other.words[p.target - 1]
            if a != b and single(a) and single(b):
                out.add((min(a, b), max(a, b)))
    return sorted(out)


def synonyms(wn: WordNet) -> list[tuple[str, str]]:
    """Pairs of single words sharing a synset, a < b, each pair once."""
    out = set()
    for synset in wn.synsets.values():
        words = sorted({w for w in synset.words if single(w)})
        out.update((a, b) for i, a in enumerate(words) for b in words[i + 1 :])
    return sorted(out)


def frequent(pairs, counts: Counter, min_count: int) -> list[tuple[str, str]]:
    """The pairs whose two words both occur at least min_count times."""
    return [(a, b) for a, b in pairs if counts[a] >= min_count and counts[b] >= min_count]


def matched(words: list[str], ranked: list[str], rng: np.random.Generator, reach: int, avoid=frozenset()) -> list[str]:
    """For each word, a random other word of nearly the same frequency: one within `reach`
    places of it in `ranked` (words by falling count), never the word itself nor in `avoid`."""
    place = {w: i for i, w in enumerate(ranked)}
    out = []
    for w in words:
        i = place[w]
        lo, hi = max(0, i - reach), min(len(ranked), i + reach + 1)
        choices = [ranked[j] for j in range(lo, hi) if ranked[j] != w and ranked[j] not in avoid]
        out.append(choices[rng.integers(len(choices))])
    return out


def unrelated(pairs, ranked: list[str], rng: np.random.Generator, reach: int, related, per_pair: int):
    """`per_pair` random pairs for each pair (a, b): a word of nearly a's frequency with one of
    nearly b's (see matched), never a or b, never the same word twice, never a pair in `related`."""
    out = []
    for a, b in pairs:
        for _ in range(per_pair):
            while True:
                x = matched([a], ranked, rng, reach, {a, b})[0]
                y = matched([b], ranked, rng, reach, {a, b, x})[0]
                if (min(x, y), max(x, y)) not in related:
                    break
            out.append((x, y))
    return out


@dataclass(frozen=True)
class TwoSenses:
    word: str
    first: tuple[int, int]  # synset keys (pos, offset) of the two senses
    second: tuple[int, int]
    first_words: tuple[str, ...]
    second_words: tuple[str, ...]


def sense_words(wn: WordNet, key, word: str, counts: Counter, min_count: int) -> list[str]:
    """A sense's words: the synset's other single words, then its definition's content words
    (the gloss before the first example), each at least min_count times in the corpus."""
    synset = wn.synsets[key]
    definition = synset.gloss.split('"')[0]
    candidates = [w for w in synset.words if single(w)] + tokens(definition)
    out = []
    for w in candidates:
        if w != word and w not in STOP and len(w) > 1 and counts[w] >= min_count and w not in out:
            out.append(w)
    return out


def two_sense_words(wn: WordNet, counts: Counter, min_word: int, min_count: int, size: int) -> list[TwoSenses]:
    """Nouns seen at least min_word times whose first sense and a later one (among the first
    MAX_SENSE) come from different lexicographer files, each sense with at least 2 words;
    up to `size` words per sense, words of both senses dropped. Mostly nouns: no function
    word, at least 3 letters, no more senses as a verb, adjective or adverb than as a noun
    ("small" has 2 noun senses and 10 as an adjective). Most frequent words first."""
    out = []
    for (pos, word), offsets in wn.senses.items():
        if pos != "n" or not single(word) or word in STOP or len(word) < 3 or counts[word] < min_word:
            continue
        if len(offsets) < 2 or any(len(wn.senses.get((p, word), ())) > len(offsets) for p in "var"):
            continue
        first = ("n", offsets[0])
        later = [("n", o) for o in offsets[1:MAX_SENSE] if wn.synsets[("n", o)].lexfile != wn.synsets[first].lexfile]
        if not later:
            continue
        a = sense_words(wn, first, word, counts, min_count)
        b = sense_words(wn, later[0], word, counts, min_count)
        shared = set(a) & set(b)
        a, b = [w for w in a if w not in shared][:size], [w for w in b if w not in shared][:size]
        if len(a) >= 2 and len(b) >= 2:
            out.append(TwoSenses(word, first, later[0], tuple(a), tuple(b)))
    return sorted(out, key=lambda t: (-counts[t.word], t.word))


def still_frequent(two: list[TwoSenses], counts: Counter, min_count: int) -> list[TwoSenses]:
    """The two-sense words whose word and at least 2 words of each sense occur min_count times
    in `counts` (the training text, once the senses' own glosses are left out), those words kept."""
    out = []
    for t in two:
        a = tuple(w for w in t.first_words if counts[w] >= min_count)
        b = tuple(w for w in t.second_words if counts[w] >= min_count)
        if counts[t.word] >= min_count and len(a) >= 2 and len(b) >= 2:
            out.append(dataclasses.replace(t, first_words=a, second_words=b))
    return out
