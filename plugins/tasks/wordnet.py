"""WordNet's glosses and examples as a corpus, with WordNet's own word pairs to measure word
vectors by: the relatedness and polysemy claims on real text.

The corpus is every gloss's definition and example sentences (WordNet 3.0, ~1.5 million
words), lower-cased and split into words; words seen fewer than `min_count` times are dropped.
Each seed trains on its own random `sample` of the sentences. The pairs (wordnet_words):
antonyms (WordNet's direct antonyms), synonyms (two words of one synset), unrelated pairs
(for each antonym pair, two random words of nearly the same frequencies), all kept only when
both words occur at least `pair_count` times; two-sense nouns with the words of each sense.
The glosses of those two senses are left out of the corpus: they define the sense groups,
and training on them would put a sense's words side by side by construction.
"""

from collections import Counter
from functools import cache, cached_property

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.task import TokenStreamTask
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl
from ablab.plugins.tasks import wordnet_cache, wordnet_files, wordnet_words

SEPARATOR = "."  # token 0: ends each sentence
PAIR_SEED = 2013  # the draw of unrelated pairs and control words: fixed, the same for every seed
REACH = 25  # a frequency-matched word is within 25 places of the word in the frequency ranking
UNRELATED_PER_PAIR = 2
CONTROLS_PER_WORD = 3
SENSE_SIZE = 5  # words per sense
MIN_TWO_SENSE = 100  # a two-sense word occurs at least this often


@cache
def _prepared(directory: str, min_count: int, pair_count: int):
    """Everything the task needs, once per process and option set, kept on disk between processes."""
    sources = [__file__, wordnet_words.__file__, wordnet_files.__file__]
    return wordnet_cache.cached(
        directory, (min_count, pair_count), sources, lambda: _prepare(directory, min_count, pair_count)
    )


def _prepare(directory: str, min_count: int, pair_count: int):
    """Everything the task needs: the vocabulary, the corpus, the pairs and the two-sense words."""
    wn = wordnet_files.load(directory)
    glosses = wordnet_words.sentences(wn)
    full = Counter(w for ss in glosses.values() for s in ss for w in s)
    two = wordnet_words.two_sense_words(wn, full, MIN_TWO_SENSE, pair_count, SENSE_SIZE)
    held_out = {k for t in two for k in (t.first, t.second)}
    sentences = [s for k, ss in glosses.items() if k not in held_out for s in ss]
    counts = Counter(w for s in sentences for w in s)
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    words = [SEPARATOR, *ranked]
    index = {w: i for i, w in enumerate(words)}
    encoded = [np.array([index[w] for w in s if w in index] + [0], dtype=np.int64) for s in sentences]
    lengths = np.array([len(e) for e in encoded])
    stream = np.concatenate(encoded)
    # pairs and sense words need words frequent enough in the training corpus
    two = wordnet_words.still_frequent(two, counts, pair_count)
    antonyms = wordnet_words.frequent(wordnet_words.antonyms(wn), counts, pair_count)
    synonyms = wordnet_words.frequent(wordnet_words.synonyms(wn), counts, pair_count)
    related = set(antonyms) | set(wordnet_words.synonyms(wn))
    rng = np.random.default_rng(PAIR_SEED)
    frequent = [w for w in ranked if counts[w] >= pair_count]
    unrelated = wordnet_words.unrelated(antonyms, frequent, rng, REACH, related, UNRELATED_PER_PAIR)
    controls = [
        wordnet_words.matched(
            [t.word] * CONTROLS_PER_WORD, frequent, rng, REACH, {t.word, *t.first_words, *t.second_words}
        )
        for t in two
    ]
    return words, stream, lengths, antonyms, synonyms, unrelated, two, controls


class WordNetText(TokenStreamTask):
    """A corpus task: word2vec models train on corpus(seed) and are measured by measure().
    As a task for recurrent nets it is next-word prediction on corpus(0)."""

    summary = "WordNet 3.0's glosses and examples as text, with its antonyms, synonyms and two-sense words"
    defaults = {"data": "/usr/share/wordnet", "sample": 0.4, "min_count": 10, "pair_count": 50, "length": 12}
    loss = "xent"
    readout = "all"
    metric = "accuracy"

    def check(self):
        data = self.options["data"]
        if not isinstance(data, str) or not data.strip() or "\0" in data:
            raise ConfigError(f"task wordnet: data must be the path of a directory (text), got {data!r}")
        if not 0 < self.options["sample"] <= 1:
            raise ConfigError(f"task wordnet: sample must be in (0, 1], got {self.options['sample']!r}")
        if self.options["min_count"] < 1 or self.options["pair_count"] < self.options["min_count"]:
            raise ConfigError("task wordnet: needs min_count >= 1 and pair_count >= min_count")
        if self.options["length"] < 2:
            raise ConfigError("task wordnet: length must be >= 2")
        wordnet_files.check_directory(data)  # a missing database is named when the study is read

    @cached_property
    def _data(self):
        return _prepared(self.options["data"], self.options["min_count"], self.options["pair_count"])

    @property
    def words(self) -> list[str]:
        return self._data[0]

    @property
    def vocab(self):
        return len(self.words)

    @property
    def n_out(self):
        return self.vocab

    @property
    def antonyms(self) -> list[tuple[str, str]]:
        return self._data[3]

    @property
    def synonyms(self) -> list[tuple[str, str]]:
        return self._data[4]

    @property
    def unrelated(self) -> list[tuple[str, str]]:
        return self._data[5]

    @property
    def two_senses(self) -> list[wordnet_words.TwoSenses]:
        return self._data[6]

    def corpus(self, seed: int) -> np.ndarray:
        """The token stream of a random `sample` of the sentences, drawn from seed."""
        _, stream, lengths, *_ = self._data
        keep = streams.rng(seed, streams.CORPUS).random(len(lengths)) < self.options["sample"]
        return stream[np.repeat(keep, lengths)]

    @property
    def showcase_words(self) -> list[str]:
        """A few antonym and synonym pairs, the most frequent two-sense word and a word of each sense."""
        picks = [p for p in self.antonyms if {"good", "hot", "black"} & set(p)] + self.synonyms[:2]
        out = [w for pair in picks for w in pair]
        if self.two_senses:
            t = self.two_senses[0]
            out += [t.word, t.first_words[0], t.second_words[0]]
        return list(dict.fromkeys(out))

    def measure(self, vectors: np.ndarray) -> dict[str, float]:
        """Mean cosine similarities of the groups the claims compare (see the studies)."""
        index = {w: i for i, w in enumerate(self.words)}
        unit = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)

        def pairs_cos(pairs) -> float:
            a = unit[[index[x] for x, _ in pairs]]
            b = unit[[index[y] for _, y in pairs]]
            return float((a * b).sum(axis=1).mean())

        def group_cos(a_words, b_words) -> float:  # mean over every word of a with every word of b
            return float((unit[[index[w] for w in a_words]] @ unit[[index[w] for w in b_words]].T).mean())

        def within(words) -> float:
            g = unit[[index[w] for w in words]]
            sims = g @ g.T
            return float(sims[np.triu_indices(len(words), 1)].mean())

        two, controls = self.two_senses, self._data[7]
        return {
            "antonym_cos": pairs_cos(self.antonyms),
            "synonym_cos": pairs_cos(self.synonyms),
            "unrelated_cos": pairs_cos(self.unrelated),
            "first_sense_cos": float(np.mean([group_cos([t.word], t.first_words) for t in two])),
            "second_sense_cos": float(np.mean([group_cos([t.word], t.second_words) for t in two])),
            "control_first_cos": float(np.mean([group_cos(c, t.first_words) for t, c in zip(two, controls)])),
            "control_second_cos": float(np.mean([group_cos(c, t.second_words) for t, c in zip(two, controls)])),
            "sense_cross_cos": float(np.mean([group_cos(t.first_words, t.second_words) for t in two])),
            "sense_within_cos": float(np.mean([(within(t.first_words) + within(t.second_words)) / 2 for t in two])),
        }

    @cached_property
    def stream(self) -> np.ndarray:
        """The training stream of recurrent nets, corpus(0), built once: batches are windows into it."""
        return self.corpus(0)


@hookimpl
def register_tasks(register):
    register("wordnet", WordNetText)
