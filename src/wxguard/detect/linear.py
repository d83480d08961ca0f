"""Small shipped text classifiers: logistic regression over character n-grams.

A model is one JSON file (``detect/models/*.json``): its card (data, licence,
split, metrics, threshold) and a sparse weight per n-gram. Inference is plain
Python — a dictionary lookup per n-gram — so nothing is downloaded and nothing
heavy is imported; a message of 30 characters costs a few microseconds. The
n-grams that pushed a score up are returned so a reviewer sees *why*.

Models are trained by ``scripts/train_models.py`` (scikit-learn, at development
time only) on ``../shared/datasets/`` under each file's licence.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from publicsuffixlist import PublicSuffixList

from .api import DetectorError

FORMAT = "wxguard-linear-v1"
_SPACES = re.compile(r"\s+")
MAX_CHARS = 2000  # classify the first 2,000 characters of a message


class ModelCard(msgspec.Struct, kw_only=True):
    name: str
    version: str
    task: str
    trained_on: str
    licence: str
    split: str
    metrics: dict[str, float]
    threshold: float
    notes: str = ""


class ModelFile(msgspec.Struct, kw_only=True):
    format: str
    card: ModelCard
    ngram_min: int
    ngram_max: int
    lowercase: bool
    preprocess: str = "text"  # "text" or "url-shape" (see LinearModel.prepare)
    bias: float
    weights: dict[str, float]


@dataclass
class LinearModel:
    card: ModelCard
    ngram_min: int
    ngram_max: int
    lowercase: bool
    preprocess: str
    bias: float
    weights: dict[str, float] = field(repr=False)

    def prepare(self, text: str) -> str:
        t = _SPACES.sub(" ", text[:MAX_CHARS])
        if self.lowercase:
            t = t.lower()
        if self.preprocess == "url-shape":
            t = url_shape(t)
        return t

    def features(self, text: str) -> set[str]:
        """The n-grams of a text (a set: the model is trained on binary features)."""
        return ngrams(self.prepare(text), self.ngram_min, self.ngram_max)

    def score(self, text: str, top: int = 3) -> tuple[float, list[str]]:
        """Probability of the positive class and (when it reaches the threshold) the n-grams
        that raised it most."""
        w = self.weights
        feats = self.features(text)
        total = self.bias + sum(x for x in map(w.get, feats) if x is not None)
        prob = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, total))))
        if prob < self.card.threshold or not top:
            return prob, []  # the explanation is only needed for a finding
        contrib = {g: x for g in feats if (x := w.get(g, 0.0)) > 0}
        return prob, sorted(contrib, key=contrib.__getitem__, reverse=True)[:top]


def registrable_domain(url: str) -> str:
    """``login-verify.cn`` of ``https://a.yunshan-tech.com.login-verify.cn/x`` (PSL, offline)."""
    host = (urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()
    return _suffixes(host)[0]


def public_suffix(host: str) -> str:
    """``com.cn`` of ``a.b.com.cn``; ``s3.amazonaws.com`` of a bucket's host (the Public
    Suffix List's private section counts). Empty when the host has no known suffix."""
    return _suffixes(host.lower())[1]


@lru_cache(maxsize=1 << 16)
def _suffixes(host: str) -> tuple[str, str]:
    """(registrable domain, public suffix) of a lower-case host. Kept per host: a chat's
    links share a few hosts, and each look-up walks the list's labels (~5 µs)."""
    psl = _psl()
    return psl.privatesuffix(host) or host, psl.publicsuffix(host) or ""


def url_shape(url: str) -> str:
    """A URL with the *identity* of its registrable name replaced by its shape.

    Public URL lists come from few sites; a model that sees names learns the sites,
    not phishing. It sees the subdomains, the shape of the name (length, hyphen,
    digits), the public suffix, the path and the query.
    """
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").lower()
    reg, pub = _suffixes(host)
    sub = host[: -len(reg)].rstrip(".") if host.endswith(reg) else ""
    name = reg[: -len(pub)].rstrip(".") if pub and reg.endswith(pub) else reg
    shape = (
        f"{len(name)}{'-' if '-' in name else ''}{'d' if any(c.isdigit() for c in name) else ''}"
    )
    return f"<sub:{sub}> <name:{shape}> <tld:{pub}> {parts.path}?{parts.query}"


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def held_out(text: str) -> bool:
    """The stable 20% hold-out used to train and to measure the shipped models."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[0] < 52


def ngrams(text: str, nmin: int, nmax: int) -> set[str]:
    return {text[i : i + n] for n in range(nmin, nmax + 1) for i in range(len(text) - n + 1)}


def load_model(path: Path | str) -> LinearModel:
    """Load a model file; errors name the file and what is wrong with it."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DetectorError(f"model file {p}: cannot read: {e.strerror}") from None
    try:
        mf = msgspec.json.decode(data, type=ModelFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise DetectorError(f"model file {p}: not a {FORMAT} model: {e}") from None
    if mf.format != FORMAT:
        raise DetectorError(f"model file {p}: format {mf.format!r}, expected {FORMAT!r}")
    if mf.preprocess not in ("text", "url-shape"):
        raise DetectorError(f"model file {p}: unknown preprocess {mf.preprocess!r}")
    if not 1 <= mf.ngram_min <= mf.ngram_max <= 8:
        raise DetectorError(f"model file {p}: n-gram range {mf.ngram_min}-{mf.ngram_max}")
    return LinearModel(
        mf.card, mf.ngram_min, mf.ngram_max, mf.lowercase, mf.preprocess, mf.bias, mf.weights
    )


SHIPPED = ("offensive-zh", "offensive-en", "phishing-url")


def shipped_model(name: str, overrides: dict[str, Path] | None = None) -> LinearModel:
    """A model shipped in the package (``detect/models/NAME.json``), or the administrator's
    replacement for it (``detect.toml``: ``[models] NAME = "/path/model.json"``)."""
    if overrides and name in overrides:
        model = load_model(overrides[name])
        if model.card.name != name:
            raise DetectorError(
                f"model file {overrides[name]}: its card names {model.card.name!r}, not {name!r}"
            )
        return model
    ref = resources.files("wxguard").joinpath(f"detect/models/{name}.json")
    return load_model(Path(str(ref)))


def dump_model(model: dict[str, Any]) -> bytes:
    """Serialise a model dict (used by the training script), validating it first."""
    mf = msgspec.convert(model, type=ModelFile)
    return msgspec.json.format(msgspec.json.encode(mf), indent=0)
