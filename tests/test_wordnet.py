"""The WordNet reader on a tiny hand-written database (tests/data/wordnet, format of `man 5
wndb`), the rules that pick word pairs and two-sense words, and the task's bad inputs."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ablab.core.errors import ConfigError
from ablab.core.plugin_system.registry import build_registry
from ablab.plugins.tasks import wordnet_files, wordnet_words

TINY = str(Path(__file__).parent / "data" / "wordnet")
REGISTRY = build_registry(entry_points=False)


@pytest.fixture(scope="module")
def tiny():
    return wordnet_files.load(TINY)


def test_reader_parses_synsets_senses_and_antonym_pointers(tiny):
    assert len(tiny.synsets) == 7 + 4 + 3 + 1
    bank = tiny.synsets[("n", 1000)]
    assert bank.words == ("bank", "shore") and bank.lexfile == 17 and bank.pos == "n"
    assert bank.gloss == 'sloping land beside a body of water; "they sat on the bank"'
    assert bank.pointers == ()  # only antonyms are kept by default
    assert tiny.synsets[("a", 3200)].words == ("warm", "tepid")  # syntactic marker "(a)" dropped; "s" filed as "a"
    fall = tiny.synsets[("v", 2100)]  # verb frames after the pointers do not disturb them
    assert fall.pointers == (wordnet_files.Pointer("!", 2000, "v", 1, 1),)
    assert tiny.senses[("n", "bank")] == (1000, 1200) and tiny.senses[("v", "good")] == (2200, 2300, 2000)


def test_every_pointer_is_kept_when_asked():
    line = "00003000 00 a 01 hot 0 002 ! 00003100 a 0101 & 00003200 s 0000 | hot"
    s = wordnet_files.parse_data_line(line)
    assert [p.symbol for p in s.pointers] == ["!", "&"] and s.pointers[1] == wordnet_files.Pointer("&", 3200, "s", 0, 0)
    assert [p.symbol for p in wordnet_files.parse_data_line(line, symbols=("!",)).pointers] == ["!"]


@pytest.mark.parametrize(
    "line,why",
    [
        ("00001000 17 n 01 bank 0 000 no gloss bar", "no '|'"),
        ("00001000 17 n 02 bank 0 000 | one word announced as two", "bad field"),
        ("00001000 17 x 01 bank 0 000 | bad synset type", "synset type 'x'"),
        ("00001000 17 n 01 bank 0 001 ! 0000 | pointer cut short", "bad field"),
    ],
)
def test_a_malformed_data_line_names_the_file_and_line(line, why):
    with pytest.raises(ConfigError, match=f"data.noun:7: not a WordNet line .{why}"):
        wordnet_files.parse_data_line(line, "data.noun", 7)


def test_a_malformed_index_line_names_the_file_and_line():
    with pytest.raises(ConfigError, match=r"index.noun:3: .*2 synsets announced, 1 listed"):
        wordnet_files.parse_index_line("bank n 2 0 2 0 00001000", "index.noun", 3)


def test_missing_files_say_which_and_how_to_install(tmp_path):
    with pytest.raises(ConfigError, match=r"not found in .*: data.noun, index.noun, .*apt-get install wordnet-base"):
        wordnet_files.load(str(tmp_path))
    (tmp_path / "data.noun").write_text("")
    with pytest.raises(ConfigError, match=r"not found in .*: index.noun, data.verb"):
        wordnet_files.load(str(tmp_path))


def test_sentences_are_gloss_parts_in_lower_case_words(tiny):
    glosses = wordnet_words.sentences(tiny)
    assert glosses[("n", 1000)] == [
        ["sloping", "land", "beside", "a", "body", "of", "water"],
        ["they", "sat", "on", "the", "bank"],
    ]


def test_antonyms_and_synonyms_follow_wordnet(tiny):
    assert wordnet_words.antonyms(tiny) == [("cold", "hot"), ("evil", "good"), ("fall", "rise")]
    # a phrase (depository_financial_institution) is not a single word
    assert wordnet_words.synonyms(tiny) == [("bank", "lender"), ("bank", "shore"), ("lift", "rise"), ("tepid", "warm")]
    counts = Counter({"cold": 5, "hot": 5, "evil": 1, "good": 9})
    assert wordnet_words.frequent(wordnet_words.antonyms(tiny), counts, 5) == [("cold", "hot")]


def test_frequency_matched_words_and_unrelated_pairs():
    ranked = [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    picks = wordnet_words.matched(["w0", "w20", "w39"] * 30, ranked, rng, 3, avoid={"w21"})
    places = [int(p[1:]) for p in picks]
    assert all(abs(p - w) <= 3 for p, w in zip(places, [0, 20, 39] * 30))
    assert not {"w0", "w20", "w39", "w21"} & set(picks)
    related = {("w10", "w31"), ("w11", "w30")}
    pairs = wordnet_words.unrelated([("w10", "w30")], ranked, rng, 1, related, 50)
    assert len(pairs) == 50 and not {(min(p), max(p)) for p in pairs} & related
    assert all(x != y and {x, y}.isdisjoint({"w10", "w30"}) for x, y in pairs)


def test_two_sense_words_need_different_lexicographer_files_and_mostly_noun_use(tiny):
    counts = Counter({w: 100 for w in "bank shore sloping land beside body water lender financial".split()})
    counts.update({w: 100 for w in "institution accepts deposits spring natural flow ground stream good".split()})
    counts.update({w: 100 for w in "benefit welfare solid part earth".split()})
    two = wordnet_words.two_sense_words(tiny, counts, min_word=100, min_count=100, size=3)
    # spring: both senses in noun.object; good: more verb senses (3) than noun senses (2)
    assert [t.word for t in two] == ["bank"]
    bank = two[0]
    assert (bank.first, bank.second) == (("n", 1000), ("n", 1200))
    assert bank.first_words == ("shore", "sloping", "land") and bank.second_words == (
        "lender",
        "financial",
        "institution",
    )
    held_out = Counter(counts)
    held_out.update({"sloping": -99, "lender": -99})  # fewer once the senses' glosses are left out
    kept = wordnet_words.still_frequent(two, held_out, 100)[0]
    assert kept.first_words == ("shore", "land") and kept.second_words == ("financial", "institution")
    held_out["land"] = 0
    assert wordnet_words.still_frequent(two, held_out, 100) == []  # one word left for the first sense
    counts["good"] = 0  # too rare now, and land too rare for a sense word
    counts["land"] = 99
    bank = wordnet_words.two_sense_words(tiny, counts, 100, 100, 3)[0]
    assert bank.first_words == ("shore", "sloping", "beside")


@pytest.mark.parametrize(
    "options,message",
    [
        ({"data": {"name": "x"}}, "data must be the path of a directory"),
        ({"data": " "}, "data must be the path of a directory"),
        ({"sample": 0.0}, r"sample must be in \(0, 1\]"),
        ({"sample": 1.5}, r"sample must be in \(0, 1\]"),
        ({"min_count": 20, "pair_count": 10}, "pair_count >= min_count"),
        ({"length": 1}, "length must be >= 2"),
    ],
)
def test_bad_task_options(options, message):
    with pytest.raises(ConfigError, match=message):
        REGISTRY.get("task", "wordnet")(**options)


def test_task_with_a_missing_directory_says_how_to_install(tmp_path):
    with pytest.raises(
        ConfigError, match=r"WordNet files not found in .*nowhere: data.noun.*apt-get install wordnet-base"
    ):
        REGISTRY.get("task", "wordnet")(data=str(tmp_path / "nowhere"))


def test_a_study_on_missing_wordnet_fails_when_read(tmp_path):
    from ablab.core.lab.study import StudyError, parse_study

    text = f"""
[study]
name = "wn_missing"
[base]
task = {{ name = "wordnet", data = "{tmp_path}" }}
model = {{ kind = "word2vec" }}
"""
    with pytest.raises(StudyError, match="WordNet files not found.*apt-get install wordnet-base"):
        parse_study(text, "wn.toml", REGISTRY)


def test_task_pairs_corpus_and_measures(wordnet_data):
    task = REGISTRY.get("task", "wordnet")(data=wordnet_data)
    counts = Counter(task.words[t] for t in np.concatenate([task.corpus(0), task.corpus(1)]))
    assert len(task.antonyms) > 100 and len(task.synonyms) > 1000 and len(task.two_senses) > 100
    assert ("bad", "good") in task.antonyms and len(task.unrelated) == 2 * len(task.antonyms)
    for a, b in task.antonyms + task.synonyms + task.unrelated:
        assert a in counts and b in counts
    np.testing.assert_array_equal(task.corpus(3), task.corpus(3))
    assert not np.array_equal(task.corpus(3), task.corpus(4))
    whole = REGISTRY.get("task", "wordnet")(data=wordnet_data, sample=1.0).corpus(0)
    assert 0.38 < len(task.corpus(0)) / len(whole) < 0.42  # a 40% sample of the sentences
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(task.vocab, 8))
    measures = task.measure(vectors)
    assert set(measures) >= {"antonym_cos", "synonym_cos", "unrelated_cos", "first_sense_cos", "sense_cross_cos"}
    assert all(abs(v) < 0.2 for v in measures.values())  # random vectors: every group near 0
    assert all(w in task.words for w in task.showcase_words)
