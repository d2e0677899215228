"""The numerical engine: cells and their contract, models, BPTT, training, optimisers, probes' and tasks' contracts. Knows nothing of studies, stores or plugins' discovery."""
