"""The one exception type that means "the user gave bad input": the CLI prints it as one line."""


class UnembedError(ValueError):
    """Bad input or a missing resource, with a message that says what to do."""
