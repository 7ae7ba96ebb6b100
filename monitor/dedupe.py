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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

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
_BAND_SEED = np.uint64(0x9E3779B97F4A7C15)
_BAND_MULTIPLIER = np.uint64(0x100000001B3)  # the 64-bit FNV prime


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The MinHash permutations (``a`` odd, ``b``), drawn as datasketch's ``MinHash(seed=1,
    scheme="affine32")`` draws them, so signatures are datasketch's (the tests hold them to
    it). Made here rather than imported: datasketch brings SciPy, about 0.7 s of start-up in
    every parse worker."""
    generator = np.random.RandomState(1)
    a = generator.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


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

    def __reduce__(self) -> tuple[Callable[..., Fingerprint], tuple[object, ...]]:
        # Parse workers send one per article: as raw bytes, the signature unpickles in the
        # writing process about fifty times faster than an ndarray does.
        blob = None if self.signature is None else signature_bytes(self.signature)
        return _unpickle_fingerprint, (self.url_key, self.guid_key, self.text_key, blob)


def _unpickle_fingerprint(
    url_key: str, guid_key: str | None, text_key: str | None, blob: bytes | None
) -> Fingerprint:
    signature = None if blob is None else np.frombuffer(blob, dtype="<u4")
    return Fingerprint(url_key, guid_key, text_key, signature)


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
    return np.unique(_runs(np.fromiter(map(_word_hash, tokens), np.uint32, len(tokens)), size))


def _runs(word_hashes: np.ndarray, size: int) -> np.ndarray:
    """The combined hash of every run of ``size`` consecutive word hashes."""
    count = len(word_hashes) - size + 1
    combined = np.zeros(count, dtype=np.uint32)
    for offset in range(size):
        combined = combined * _POSITION_MULTIPLIER + word_hashes[offset : offset + count]
    return combined


@lru_cache(maxsize=1 << 17)
def _word_hash(word: str) -> int:
    """A word's CRC-32, remembered: news repeats its vocabulary, and a lookup costs a fifth of
    encoding and hashing the word again."""
    return zlib.crc32(word.encode())


def signature(tokens: list[str], size: int | None = None) -> np.ndarray | None:
    """MinHash signature of a text's shingles; None when the text is too short to compare."""
    return signatures([tokens], size)[0]


def signatures(texts: Sequence[list[str]], size: int | None = None) -> list[np.ndarray | None]:
    """MinHash signatures of many texts in one numpy pass (a feed's worth at a time).

    The same values as ``datasketch.MinHash(scheme="affine32").update_batch`` gives for each
    text: every shingle hash is mixed with the MurmurHash3 finaliser, then permuted with each
    ``a * h + b (mod 2**32)`` of datasketch's permutations, and each permutation keeps its
    minimum. Doing it for all texts at once costs one set of numpy calls instead of one per
    article: the shingles of all texts are made from their words laid end to end, keeping the
    runs that do not cross from one text into the next (a text's repeated shingles are not
    removed, as ``shingle_hashes`` does: they cannot change a minimum)."""
    out: list[np.ndarray | None] = [None] * len(texts)
    owners = [index for index, tokens in enumerate(texts) if len(tokens) >= MIN_WORDS]
    if not owners:
        return out
    lengths = np.array([len(texts[index]) for index in owners])
    size = size or SHINGLE_WORDS
    if size > lengths.min():  # a text shorter than a shingle: one shingle of all its words
        chunks = [shingle_hashes(texts[index], size) for index in owners]
        counts = np.array([len(chunk) for chunk in chunks])
        shingles = np.concatenate(chunks)
    else:
        words = chain.from_iterable(texts[index] for index in owners)
        runs = _runs(np.fromiter(map(_word_hash, words), np.uint32, lengths.sum()), size)
        counts = lengths - size + 1
        offsets = (
            np.arange(len(runs)) - np.repeat(np.cumsum(lengths) - lengths, lengths)[: len(runs)]
        )
        shingles = runs[offsets < np.repeat(counts, lengths)[: len(runs)]]
    a, b = _permutations()
    hashes = _fmix32(shingles)
    starts = np.cumsum(counts) - counts
    with np.errstate(over="ignore"):
        # One row per permutation, so every operation runs along contiguous memory (about
        # eight times faster than a column per permutation).
        permuted = np.multiply.outer(a, hashes)
        permuted += b[:, None]
    minima = np.ascontiguousarray(np.minimum.reduceat(permuted, starts, axis=1).T)
    for row, index in enumerate(owners):
        out[index] = minima[row]
    return out


def _fmix32(values: np.ndarray) -> np.ndarray:
    """The MurmurHash3 32-bit finaliser (what datasketch's affine32 scheme applies first)."""
    with np.errstate(over="ignore"):
        values = values ^ (values >> np.uint32(16))
        values = values * np.uint32(0x85EBCA6B)
        values = values ^ (values >> np.uint32(13))
        values = values * np.uint32(0xC2B2AE35)
        return values ^ (values >> np.uint32(16))


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def signature_bytes(sig: np.ndarray) -> bytes:
    return sig.astype("<u4").tobytes()


def signature_from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)


@lru_cache(maxsize=8)
def lsh_params(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) as datasketch's ``MinHashLSH`` picks them for this threshold,
    weighing a missed pair nine times a needless candidate: candidates are checked against the
    threshold anyway, and a missed copy is a second alert.

    datasketch integrates the false positive and negative rates of every (bands, rows) pair
    with SciPy; the integrands are polynomials of degree at most ``num_perm``, which
    Gauss-Legendre quadrature with ``num_perm // 2 + 1`` nodes integrates exactly, so numpy
    finds the same pair for all of them at once (the tests compare the two)."""
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bands = np.array([b for b, _ in pairs], dtype=float)[:, None]
    rows = np.array([r for _, r in pairs], dtype=float)[:, None]
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def integral(low: float, high: float, missed: bool) -> np.ndarray:
        s = (high - low) / 2 * nodes + (high + low) / 2
        apart = (1 - s**rows) ** bands  # chance that no band agrees at similarity s
        return (high - low) / 2 * ((apart if missed else 1 - apart) @ weights)

    false_positive = integral(0.0, threshold, missed=False)
    false_negative = integral(threshold, 1.0, missed=True)
    error = false_positive * LSH_WEIGHTS[0] + false_negative * LSH_WEIGHTS[1]
    return pairs[int(np.argmin(error))]


def band_keys(sig: np.ndarray, threshold: float) -> list[int]:
    """One signed 64-bit key per LSH band: articles sharing any key are candidates."""
    return band_matrix(sig[None, :], threshold)[0].tolist()


def band_matrix(sigs: np.ndarray, threshold: float) -> np.ndarray:
    """LSH band keys of many signatures at once (one row of int64 keys per signature).

    Each band's values and its number are folded into 64 bits with multiply-xor steps and the
    MurmurHash3 64-bit finaliser, all in numpy: equal bands give equal keys, and different
    bands collide about once in 2**64."""
    bands, rows = lsh_params(threshold)
    values = sigs[:, : bands * rows].astype(np.uint64).reshape(len(sigs), bands, rows)
    with np.errstate(over="ignore"):
        keys = np.broadcast_to(np.arange(bands, dtype=np.uint64) + _BAND_SEED, values.shape[:2])
        for row in range(rows):
            keys = (keys ^ values[:, :, row]) * _BAND_MULTIPLIER
        keys = keys ^ (keys >> np.uint64(33))
        keys = keys * np.uint64(0xFF51AFD7ED558CCD)
        keys = keys ^ (keys >> np.uint64(33))
        keys = keys * np.uint64(0xC4CEB9FE1A85EC53)
        keys = keys ^ (keys >> np.uint64(33))
    return keys.view(np.int64)


def pack_bands(keys: Sequence[int]) -> bytes:
    """Band keys as stored: signed 64-bit little-endian integers, eight bytes each."""
    return np.asarray(keys, dtype="<i8").tobytes()


def pack_band_rows(keys: np.ndarray) -> list[bytes]:
    """``pack_bands`` of each row of a ``band_matrix``."""
    blob, width = keys.astype("<i8").tobytes(), keys.shape[1] * 8
    return [blob[start : start + width] for start in range(0, len(blob), width)]


def unpack_bands(packed: bytes) -> list[int]:
    return np.frombuffer(packed, dtype="<i8").tolist()


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
    return fingerprints([article], size)[0]


def fingerprints(articles: Sequence[Article], size: int | None = None) -> list[Fingerprint]:
    """Exact keys and MinHash signatures of many articles (signatures in one numpy pass)."""
    texts = [comparable_text(a) for a in articles]
    sigs = signatures(texts, size)
    out = []
    for article, tokens, sig in zip(articles, texts, sigs, strict=True):
        text_key = None
        if len(tokens) >= MIN_WORDS:
            text_key = "text:" + hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]
        out.append(
            Fingerprint(
                url_key="url:" + url_identity(article.url),
                guid_key=guid_key(article.guid, article.source),
                text_key=text_key,
                signature=sig,
            )
        )
    return out


def title_overlap(a: str, b: str) -> float:
    """Jaccard similarity of two titles' word sets (1.0 when either is empty)."""
    wa, wb = set(words(a)), set(words(b))
    if not wa or not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


class BandIndex:
    """LSH band key → ids of the articles that have it, in memory (pure; the story code keeps
    it in step with the band keys stored in SQLite).

    The keys live in a few sorted numpy runs (16 bytes a key: 100,000 recent articles take
    about 46 MB), each at most about half the size of the one before it: keys added together
    form a run of their own, and the two last runs are merged while the newer one is at least
    half the size of the older (two sorted runs merge in one linear pass), so a key is merged
    about log2(n) times in all and a search visits about log2(n) runs. Keys added one article
    at a time wait in a dict until there are ``RECENT_KEYS`` of them. A feed's new articles
    are searched together (``expect``), first in a Bloom filter of all the keys (two bytes a
    key), which rules out nearly every key of an article that is new: only the rest are
    looked up in the runs, whose binary searches would otherwise miss the CPU cache at every
    step, in every run, for every key."""

    RECENT_KEYS = 4096
    FILTER_KEYS = 1 << 19  # keys the first Bloom filter holds (a megabyte)

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, their ids)
        self._recent: dict[int, list[int]] = {}  # key -> ids, added one article at a time
        self._recent_size = 0
        self._bloom = _Bloom(self.FILTER_KEYS)
        # Whether each article of the batch searched at once (``expect``) shares a key with
        # one already here or with an article before it in the batch, by its packed keys.
        self._expected: dict[bytes, bool] = {}

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._runs) + self._recent_size

    @property
    def nbytes(self) -> int:
        """Memory held by the merged keys, their ids and the filter (the recent keys add
        little)."""
        runs = sum(int(keys.nbytes + ids.nbytes) for keys, ids in self._runs)
        return runs + self._bloom.nbytes

    def add(self, article_id: int, keys: Sequence[int]) -> None:
        if self._expected and pack_bands(keys) not in self._expected:
            self._expected = {}  # keys the batch's search did not take into account
        for key in keys:
            self._recent.setdefault(key, []).append(article_id)
        self._recent_size += len(keys)
        self._filter(np.asarray(keys, dtype=np.int64))
        if self._recent_size >= self.RECENT_KEYS:
            self._fold_recent()

    def add_many(self, ids: np.ndarray, keys: np.ndarray) -> None:
        """Add a (articles × bands) matrix of keys for these article ids at once."""
        if not len(ids):
            return
        self._expected = {}
        flat = keys.reshape(-1).astype(np.int64)
        self._filter(flat)
        self._add_run(np.repeat(ids.astype(np.int64), keys.shape[1]), flat)

    def add_expected(self, ids: Sequence[int], packed: Sequence[bytes]) -> None:
        """Add the keys (packed, ``pack_bands``) of articles of the batch searched at once
        (their search stays good: it took the articles before each one in the batch into
        account)."""
        if not ids:
            return
        keys = _unpacked(packed)
        self._filter(keys)
        sizes = [len(blob) // 8 for blob in packed]
        self._add_run(np.repeat(np.asarray(ids, dtype=np.int64), sizes), keys)

    def expect(self, packed: Sequence[bytes]) -> None:
        """Search for a batch of articles' keys (each article's packed, ``pack_bands``) at
        once: ``shares_any`` then answers for each of them in the order given (keys of an
        article before it in the batch count too)."""
        self._expected = {}
        if not packed:
            return
        query = _unpacked(packed)
        hit = self._found(query)
        order = np.argsort(query, kind="stable")
        ordered = query[order]
        hit[order[1:][ordered[1:] == ordered[:-1]]] = True  # a key that came before in the batch
        owners = np.repeat(np.arange(len(packed)), [len(blob) // 8 for blob in packed])
        shares = np.bincount(owners[hit], minlength=len(packed)) > 0
        self._expected = dict(zip(packed, shares.tolist(), strict=True))

    def shares_any(self, packed: bytes) -> bool:
        """Whether another article has one of these keys (packed, ``pack_bands``)."""
        if not packed:
            return False
        expected = self._expected.get(packed) if self._expected else None
        if expected is not None:
            return expected
        return bool(self._found(_unpacked([packed])).any())

    def shared(self, keys: Sequence[int], limit: int = 50) -> list[int]:
        """Ids of the articles sharing any of these keys, most shared keys first."""
        query = np.asarray(keys, dtype=np.int64)
        query = query[self._bloom.maybe(query)]  # the runs are searched for the rest only
        counts: dict[int, int] = {}
        for run_keys, run_ids in self._runs if len(query) else ():
            starts = run_keys.searchsorted(query).tolist()
            ends = run_keys.searchsorted(query, "right").tolist()
            for start, end in zip(starts, ends, strict=True):
                for article_id in run_ids[start:end].tolist():
                    counts[article_id] = counts.get(article_id, 0) + 1
        for key in self._recent.keys() & keys:
            for article_id in self._recent[key]:
                counts[article_id] = counts.get(article_id, 0) + 1
        ranked = sorted(counts.items(), key=lambda item: (-item[1], -item[0]))
        return [article_id for article_id, _ in ranked[:limit]]

    def forget_below(self, article_id: int) -> None:
        """Drop every key of articles with smaller ids (those whose band keys were pruned)."""
        self._expected = {}
        self._fold_recent()
        if not self._runs:
            return
        keys = np.concatenate([keys for keys, _ in self._runs])
        ids = np.concatenate([ids for _, ids in self._runs])
        keep = ids >= article_id
        self._runs = [_sorted_run(keys[keep], ids[keep])] if keep.any() else []
        self._bloom = _Bloom(max(2 * int(keep.sum()), self.FILTER_KEYS))
        self._bloom.add(keys[keep])

    def _found(self, query: np.ndarray) -> np.ndarray:
        """Which of these keys some article has."""
        hit = np.zeros(len(query), dtype=bool)
        maybe = np.flatnonzero(self._bloom.maybe(query))
        if not len(maybe):
            return hit
        keys, found = query[maybe], np.zeros(len(maybe), dtype=bool)
        for run_keys, _ in self._runs:
            at = run_keys.searchsorted(keys)
            found |= run_keys[np.minimum(at, len(run_keys) - 1)] == keys
        if self._recent:
            recent = self._recent
            found |= np.fromiter((key in recent for key in keys.tolist()), bool, len(keys))
        hit[maybe] = found
        return hit

    def _filter(self, keys: np.ndarray) -> None:
        """Put keys in the Bloom filter; when it is full, one for twice the keys it then
        holds is made from all of them (rarely: each time the index has doubled)."""
        if self._bloom.count + len(keys) > self._bloom.capacity:
            stored = [run_keys for run_keys, _ in self._runs]
            stored.append(np.fromiter(self._recent.keys(), np.int64, len(self._recent)))
            everything = np.concatenate([*stored, keys])
            self._bloom = _Bloom(2 * len(everything))
            self._bloom.add(everything)
        else:
            self._bloom.add(keys)

    def _fold_recent(self) -> None:
        """Move the keys added one article at a time into a run."""
        if not self._recent:
            return
        recent, self._recent, self._recent_size = self._recent, {}, 0
        sizes = [len(ids) for ids in recent.values()]
        keys = np.repeat(np.fromiter(recent.keys(), np.int64, len(recent)), sizes)
        ids = np.fromiter(chain.from_iterable(recent.values()), np.int64, sum(sizes))
        self._add_run(ids, keys)

    def _add_run(self, ids: np.ndarray, keys: np.ndarray) -> None:
        runs = self._runs
        runs.append(_sorted_run(keys.astype(np.int64), ids))
        while len(runs) > 1 and 2 * len(runs[-1][0]) >= len(runs[-2][0]):
            (newer_keys, newer_ids), (older_keys, older_ids) = runs.pop(), runs.pop()
            # Two sorted runs laid end to end: the stable sort (timsort) merges them in one
            # pass, and keeps the older ids of a key first.
            runs.append(
                _sorted_run(
                    np.concatenate([older_keys, newer_keys]), np.concatenate([older_ids, newer_ids])
                )
            )


class _Bloom:
    """Bits that say a key is surely not in a set, or may be (a key not in it passes for one
    in about 1 case in 200 when the filter holds ``capacity`` keys, far fewer before):
    sixteen bits a key, three bits set for each, taken from the key by multiplicative hashing
    (band keys are well mixed already) and mapped onto the bits by multiplying again."""

    _MULTIPLIERS = np.array(
        [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64
    )
    _HIGH = np.uint64(32)

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._bits = np.zeros((16 * capacity + 7) // 8, dtype=np.uint8)
        self._size = np.uint64(8 * len(self._bits))
        self.count = 0

    @property
    def nbytes(self) -> int:
        return int(self._bits.nbytes)

    def add(self, keys: np.ndarray) -> None:
        slots = self._slots(keys).reshape(-1)
        masks = np.left_shift(np.uint8(1), (slots & 7).astype(np.uint8))
        np.bitwise_or.at(self._bits, (slots >> 3).astype(np.intp), masks)
        self.count += len(keys)

    def maybe(self, keys: np.ndarray) -> np.ndarray:
        """For each key, whether it may be in the set."""
        slots = self._slots(keys)
        bytes_ = self._bits[(slots >> 3).astype(np.intp)]
        return ((bytes_ >> (slots & 7).astype(np.uint8)) & 1).all(axis=0).astype(bool)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        """The bit numbers of each key (one row per multiplier): the high 32 bits of each
        product, scaled to the filter's size."""
        mixed = np.multiply.outer(self._MULTIPLIERS, keys.astype(np.int64).view(np.uint64))
        return ((mixed >> self._HIGH) * self._size) >> self._HIGH


def _unpacked(packed: Sequence[bytes]) -> np.ndarray:
    """The keys of packed band key lists, laid end to end."""
    return np.frombuffer(b"".join(packed), dtype="<i8").astype(np.int64)


def _sorted_run(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], ids[order]
