"""What an erased learner's personal fields read as, once their key is destroyed.

Learner ids are 1-200 characters of `[A-Za-z0-9._:+@~-]`, so this value can be no one's.
"""

ERASED = "(erased)"


def is_erased(value: object) -> bool:
    return value == ERASED
