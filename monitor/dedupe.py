"""Fingerprints that tell copies of one article apart from different articles (pure, no I/O).

Two kinds of evidence, used by ``monitor.stories`` in this order:

- **exact keys**: the page's URL identity (canonical URL without scheme, ``www.`` or trailing
  slash), its GUID, and a hash of its normalised text. Equal keys mean the same article.
- **MinHash signature** of the text's word shingles (runs of three words) (datasketch, ``affine32`` scheme): the
  share of equal slots estimates the Jaccard similarity of two texts' shingle sets, and LSH
  bands of the signature find likely near-duplicates without comparing against every article.

A text shorter than ``MIN_WORDS`` gets neither a text hash nor a signature: too little to tell
a syndicated copy from boilerplate.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from monitor.models import Article
from monitor.normalize import canonical_url, url_identity

NUM_PERM = 128
SHINGLE_WORDS = 3
MIN_WORDS = 25
SCHEME = "affine32"
LSH_WEIGHTS = (0.1, 0.9)
_WORD = re.compile(r"\w+")
_POSITION_MULTIPLIER = np.uint32(0x9E3779B1)


@lru_cache(maxsize=1)
def _permutations() -> Any:
    """The MinHash permutations, made once. datasketch (and through it SciPy) is imported only
    when an article is first fingerprinted, so commands that fingerprint nothing start fast."""
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME).permutations


@dataclass(frozen=True)
class Fingerprint:
    """What one article is made of, for finding its other copies."""

    url_key: str
    guid_key: str | None
    text_key: str | None
    signature: np.ndarray | None

    @property
    def exact_keys(self) -> list[str]:
        """Strongest first: the same page, the same GUID, the same text."""
        return [k for k in (self.url_key, self.guid_key, self.text_key) if k]


def words(text: str) -> list[str]:
    """Lower-case words of a text, Unicode-normalised, punctuation and spacing gone."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingle_hashes(tokens: list[str], size: int | None = None) -> np.ndarray:
    """A 32-bit hash of every run of ``size`` consecutive words, distinct values only.

    Words are hashed with CRC-32 (stable across processes, unlike ``hash``) and each run's
    hashes combined with per-position odd multipliers in numpy: the same set a per-shingle
    SHA-1 would describe, at a sixth of the cost. datasketch mixes every value again (the
    ``affine32`` scheme's MurmurHash3 finaliser) before permuting it."""
    size = min(size or SHINGLE_WORDS, len(tokens))
    if size == 0:
        return np.empty(0, dtype=np.uint32)
    word_hashes = np.fromiter((zlib.crc32(t.encode()) for t in tokens), np.uint32, len(tokens))
    count = len(tokens) - size + 1
    combined = np.zeros(count, dtype=np.uint32)
    for offset in range(size):
        combined = combined * _POSITION_MULTIPLIER + word_hashes[offset : offset + count]
    return np.unique(combined)


def signature(tokens: list[str], size: int | None = None) -> np.ndarray | None:
    """MinHash signature of a text's shingles; None when the text is too short to compare."""
    if len(tokens) < MIN_WORDS:
        return None
    from datasketch import MinHash

    minhash = MinHash(
        num_perm=NUM_PERM, seed=1, scheme=SCHEME, permutations=_permutations(), hashfunc=int
    )
    minhash.update_batch(shingle_hashes(tokens, size).tolist())
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def signature_bytes(sig: np.ndarray) -> bytes:
    return sig.astype("<u4").tobytes()


def signature_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


@lru_cache(maxsize=8)
def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for this threshold, weighing a
    missed pair nine times a needless candidate: candidates are checked against the threshold
    anyway, and a missed copy is a second alert."""
    from datasketch import MinHashLSH

    index = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    return index.b, index.r


def band_keys(sig: np.ndarray, threshold: float) -> list[int]:
    """One signed 64-bit key per LSH band: articles sharing any key are candidates."""
    bands, rows = lsh_params(threshold)
    keys = []
    for band in range(bands):
        chunk = sig[band * rows : (band + 1) * rows].astype("<u4").tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=band.to_bytes(2, "little"))
        keys.append(int.from_bytes(digest.digest(), "little", signed=True))
    return keys


def pack_bands(keys: list[int]) -> bytes:
    return b"".join(k.to_bytes(8, "little", signed=True) for k in keys)


def guid_key(guid: str | None, source: str) -> str | None:
    """A GUID that is a URL or otherwise globally unique stands alone; a short or numeric one
    is only unique within its feed, so it is qualified by the source."""
    guid = (guid or "").strip()
    if not guid:
        return None
    if guid.startswith(("http://", "https://")):
        return "guid:" + url_identity(canonical_url(guid))
    if guid.startswith(("urn:", "tag:")) or (len(guid) >= 20 and not guid.isdigit()):
        return "guid:" + guid
    return f"guid:{source}:{guid}"


def comparable_text(article: Article) -> list[str]:
    """The words that make an article what it is: its body, or title and body when the body
    alone is too short to tell it apart."""
    body = words(article.body)
    return body if len(body) >= MIN_WORDS else words(article.title) + body


def fingerprint(article: Article, size: int | None = None) -> Fingerprint:
    """Exact keys and MinHash signature of one article."""
    tokens = comparable_text(article)
    text_key = None
    if len(tokens) >= MIN_WORDS:
        text_key = "text:" + hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]
    return Fingerprint(
        url_key="url:" + url_identity(article.url),
        guid_key=guid_key(article.guid, article.source),
        text_key=text_key,
        signature=signature(tokens, size),
    )


def title_overlap(a: str, b: str) -> float:
    """Jaccard similarity of two titles' word sets (1.0 when either is empty)."""
    wa, wb = set(words(a)), set(words(b))
    if not wa or not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)
