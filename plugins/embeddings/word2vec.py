"""word2vec embedding: skip-gram vectors pretrained on the task's own token stream."""

import numpy as np

from ablab.core.engine.embedding import scatter_add
from ablab.core.engine.word2vec import SGNSConfig, train_sgns
from ablab.core.errors import ConfigError
from ablab.plugin import hookimpl
from ablab.plugins.embeddings.basic import Random


class Word2Vec(Random):
    """Skip-gram with negative sampling (unigram^0.75 noise, subsampling, dynamic window),
    trained per member on `stream_batches` batches of the task's token sequences before
    training starts; then frozen, or fine-tuned with the model when finetune = true."""

    summary = "skip-gram word2vec vectors pretrained on the task's token stream; frozen or fine-tuned"
    defaults = {"dim": 16, "window": 2, "negatives": 5, "epochs": 3, "stream_batches": 20, "finetune": False}

    def __init__(self, registry, vocab, **options):
        super().__init__(registry, vocab, **options)
        self.task = None
        o = self.options
        self.config = SGNSConfig(dim=o["dim"], window=o["window"], negatives=o["negatives"], epochs=o["epochs"])

    @property
    def trainable(self):
        return self.options["finetune"]

    def attach(self, task) -> None:
        """The token task whose stream the vectors are trained on (ablab calls this)."""
        self.task = task

    def init_member(self, rng):
        if self.task is None:
            raise ConfigError("the word2vec embedding needs a token task to pretrain on; attach(task) first")
        sequences = [self.task.batch(rng, 32).x.T for _ in range(self.options["stream_batches"])]  # (B, T) each
        stream = np.concatenate([s.ravel() for s in sequences])
        vectors, _ = train_sgns(stream, self.vocab, self.config, seed=int(rng.integers(2**31)))
        return {"E": vectors}

    def backward(self, p, tokens, dx, grads):
        if self.trainable:
            scatter_add(grads["E"], tokens, dx)


@hookimpl
def register_embeddings(register):
    register("word2vec", Word2Vec)
