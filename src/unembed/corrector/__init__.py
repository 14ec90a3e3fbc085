"""The corrector: a second decoder that rewrites a hypothesis given the target vector, the
hypothesis's embedding and their gap; its training data."""
