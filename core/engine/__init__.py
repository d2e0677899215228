"""The numerical engine: cells and their contract, models, BPTT, training, optimisers, the
probe and task contracts. Knows nothing of studies, stores or how plugins are discovered."""
