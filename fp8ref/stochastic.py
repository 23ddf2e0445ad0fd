"""Counter-based random bits for stochastic rounding: Philox4x32-10 (Salmon et al., SC'11; Random123).

The generator is a pure function of (seed, element index), so a GPU kernel given the same seed can be
checked bit-for-bit against this one, whatever its launch shape.

Element ``i`` (its row-major linear index in the whole input array) takes word ``i & 3`` of
``philox4x32_10(counter=(lo32(i >> 2), hi32(i >> 2), 0, 0), key=(lo32(seed), hi32(seed)))``: one Philox
call serves four consecutive elements.
"""

from __future__ import annotations

import numpy as np

__all__ = ["philox4x32_10", "random_bits"]

# Round multipliers and Weyl key increments (Random123 philox.h).
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint32(0x9E3779B9)  # golden ratio: 2**32 / phi
PHILOX_W1 = np.uint32(0xBB67AE85)  # sqrt(3) - 1, times 2**32
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter, key) -> np.ndarray:
    """Philox4x32 with 10 rounds. ``counter``: uint32 [..., 4]; ``key``: uint32 [..., 2] (broadcast).

    >>> [hex(w) for w in philox4x32_10(np.zeros(4, np.uint32), np.zeros(2, np.uint32))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    counter = np.asarray(counter, dtype=np.uint32)
    key = np.asarray(key, dtype=np.uint32)
    if counter.shape[-1:] != (4,) or key.shape[-1:] != (2,):
        raise ValueError(f"counter [..., 4] and key [..., 2] expected, got {counter.shape} and {key.shape}")
    c0, c1, c2, c3 = (counter[..., j].astype(np.uint64) for j in range(4))
    k0, k1 = (key[..., j].astype(np.uint32) for j in range(2))
    with np.errstate(over="ignore"):
        for r in range(10):
            if r:  # the key schedule bumps the key before rounds 2..10
                k0 = k0 + PHILOX_W0
                k1 = k1 + PHILOX_W1
            p0 = PHILOX_M0 * c0  # mulhilo32: full 64-bit product of two 32-bit words
            p1 = PHILOX_M1 * c2
            c0, c1, c2, c3 = (
                (p1 >> np.uint64(32)) ^ c1 ^ k0.astype(np.uint64),
                p1 & _MASK32,
                (p0 >> np.uint64(32)) ^ c3 ^ k1.astype(np.uint64),
                p0 & _MASK32,
            )
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def random_bits(seed: int, n: int, offset: int = 0) -> np.ndarray:
    """The uint32 random words of elements ``offset .. offset + n - 1`` for ``seed`` (0 <= seed < 2**64).

    >>> bool((random_bits(7, 5, offset=3) == random_bits(7, 8)[3:]).all())
    True
    """
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed}")
    if n < 0 or offset < 0:
        raise ValueError(f"n and offset must be >= 0, got n={n}, offset={offset}")
    # One Philox call per block of four consecutive elements, then each element picks its word.
    first, last = offset >> 2, (offset + n + 3) >> 2
    block = np.arange(first, last, dtype=np.uint64)
    ctr = np.zeros((block.size, 4), np.uint32)
    ctr[:, 0] = (block & _MASK32).astype(np.uint32)
    ctr[:, 1] = (block >> np.uint64(32)).astype(np.uint32)
    key = np.array([seed & 0xFFFFFFFF, seed >> 32], np.uint32)
    words = philox4x32_10(ctr, key).reshape(-1)
    return words[offset - 4 * first: offset - 4 * first + n].copy()
