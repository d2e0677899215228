"""A small template corpus, written for ablab, in which antonyms share their contexts.

Antonyms (hot/cold, good/bad, up/down, ...) fill the same slots of the same sentences, as
they do in real text; synonym pairs share their own templates; "bank" appears in two sense
families (river and money). Distributional vectors trained on it show what they capture.
"""

from functools import cached_property

import numpy as np

from ablab.core.engine import streams
from ablab.core.engine.task import TokenStreamTask
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl

ANTONYMS = [("hot", "cold"), ("good", "bad"), ("up", "down"), ("early", "late"), ("open", "closed"), ("happy", "sad")]
SYNONYMS = [("big", "large"), ("fast", "quick"), ("small", "little"), ("start", "begin")]
# each family: templates with one slot filled by either word of its pairs
FAMILIES = {
    ("hot", "cold"): [
        "the soup is {} today",
        "a {} wind blew from the hills",
        "she drank the {} tea slowly",
        "the room felt {} at night",
    ],
    ("good", "bad"): [
        "it was a {} film",
        "he had a {} day at work",
        "the food tasted {} again",
        "that is {} news for us",
    ],
    ("up", "down"): [
        "prices went {} this year",
        "the lift moved {} slowly",
        "she looked {} at the sky",
        "the numbers kept going {}",
    ],
    ("early", "late"): [
        "the train arrived {} again",
        "we left {} in the evening",
        "he woke {} on sunday",
        "the bus was {} as usual",
    ],
    ("open", "closed"): [
        "the shop was {} on monday",
        "keep the door {} please",
        "the gate stood {} all day",
        "the museum is {} in winter",
    ],
    ("happy", "sad"): [
        "the child looked {} today",
        "a {} song played on the radio",
        "they felt {} after the game",
        "her letter sounded {}",
    ],
    ("big", "large"): [
        "a {} house stood on the corner",
        "they bought a {} table",
        "the {} dog barked loudly",
        "a {} crowd gathered outside",
    ],
    ("fast", "quick"): [
        "a {} runner won the race",
        "he made a {} decision",
        "the {} car passed us",
        "she gave a {} answer",
    ],
    ("small", "little"): [
        "a {} bird sat on the fence",
        "they lived in a {} village",
        "the {} boat drifted away",
        "a {} cup of coffee",
    ],
    ("start", "begin"): [
        "the lessons {} at nine",
        "we will {} the work tomorrow",
        "the concert will {} soon",
        "let us {} again",
    ],
}
SENSES = {
    "river": [
        "the {} of the river was muddy",
        "fish swam near the {} of the stream",
        "we sat on the grassy {} by the water",
        "the flood washed over the {} and the shore",
    ],
    "money": [
        "the {} raised its interest rate",
        "she put her money in the {}",
        "the {} approved the loan",
        "he paid cash at the {} downtown",
    ],
}
# words that fill a sense's slots too: "bank" shares half its contexts with each group
SENSE_WORDS = {"river": ["shore", "edge"], "money": ["lender", "firm"]}
POLYSEMOUS = "bank"


class WordPairs(TokenStreamTask):
    """Next-word prediction on the template corpus (sentences joined by '.'). The study
    claims about word vectors train skip-gram on `corpus(seed)` and compare cosines."""

    summary = "template corpus where antonyms share contexts; next-word prediction (baseline: unigram entropy)"
    defaults = {"sentences": 4000, "length": 12}
    loss = "xent"
    readout = "all"
    metric = "accuracy"

    def check(self):
        if self.options["sentences"] < 10 or self.options["length"] < 2:
            raise ConfigError("task wordpairs: needs sentences >= 10 and length >= 2")

    @cached_property
    def words(self) -> list[str]:
        vocab = {"."}
        for family, templates in list(FAMILIES.items()) + [
            ((POLYSEMOUS, *SENSE_WORDS[k]), t) for k, t in SENSES.items()
        ]:
            vocab.update(family)
            for t in templates:
                vocab.update(w for w in t.split() if w != "{}")
        return sorted(vocab)

    @property
    def vocab(self):
        return len(self.words)

    def corpus(self, seed: int) -> np.ndarray:
        """A token stream of `sentences` random sentences, drawn from seed."""
        rng = streams.rng(seed, streams.CORPUS)
        index = {w: i for i, w in enumerate(self.words)}
        slots = [(family, t) for family, ts in FAMILIES.items() for t in ts] + [
            ((POLYSEMOUS, *SENSE_WORDS[k]), t) for k, ts in SENSES.items() for t in ts
        ]
        out = []
        for k in rng.integers(0, len(slots), self.options["sentences"]):
            family, template = slots[k]
            word = family[rng.integers(len(family))]
            out += [index[w] for w in template.format(word).split()] + [index["."]]
        return np.asarray(out, dtype=np.int64)

    @property
    def showcase_words(self) -> list[str]:
        """Words worth looking at first: a few antonym and synonym pairs, the two-sense word
        and a word of each of its senses."""
        pairs = ANTONYMS[:3] + SYNONYMS[:2]
        return [w for pair in pairs for w in pair] + [POLYSEMOUS, SENSE_WORDS["river"][0], SENSE_WORDS["money"][0]]

    def measure(self, vectors: np.ndarray) -> dict[str, float]:
        """Mean cosine similarities of the word groups the claims compare."""
        index = {w: i for i, w in enumerate(self.words)}

        def cos(a, b):
            va, vb = vectors[index[a]], vectors[index[b]]
            return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-12))

        unrelated = [(a[0], s[0]) for a in ANTONYMS for s in SYNONYMS] + [
            (a[0], b[0]) for a in ANTONYMS for b in ANTONYMS if a < b
        ]
        river, money = SENSE_WORDS["river"], SENSE_WORDS["money"]
        return {
            "antonym_cos": float(np.mean([cos(a, b) for a, b in ANTONYMS])),
            "synonym_cos": float(np.mean([cos(a, b) for a, b in SYNONYMS])),
            "unrelated_cos": float(np.mean([cos(a, b) for a, b in unrelated])),
            "sense_within_cos": float(np.mean([cos(*river), cos(*money)])),
            "sense_cross_cos": float(np.mean([cos(a, b) for a in river for b in money])),
            "polysemous_river_cos": float(np.mean([cos(POLYSEMOUS, w) for w in river])),
            "polysemous_money_cos": float(np.mean([cos(POLYSEMOUS, w) for w in money])),
        }

    @cached_property
    def stream(self) -> np.ndarray:
        """The training stream, corpus(0), built once: batches are windows into it."""
        return self.corpus(0)


@hookimpl
def register_tasks(register):
    register("wordpairs", WordPairs)
