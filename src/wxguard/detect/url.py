"""Suspicious links, judged offline: look-alikes of the company's and of common brands'
domains, punycode, raw-IP hosts and link shorteners; then, for a link no rule
decided, the shipped ``phishing-url`` classifier (card in ``detect/models/``).

The registrable domain comes from the Public Suffix List shipped in the
``publicsuffixlist`` package (no network). The company's own domains come from the
archive's ``detect.toml`` (``own_domains``); links to them are never flagged.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .api import Anchor, DetectConfig, Detector, Explanation, Hit, ScanBatch
from .linear import public_suffix, registrable_domain, shipped_model
from .textnorm import map_chars

_STOP = "\\s<>\"'，。！？、）)】」』；;"
_URL_RX = re.compile(
    rf"(?:https?://|www\.)[^{_STOP}]+"
    rf"|(?<![\w@.\-])(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:[a-z]{{2,24}}|xn--[a-z0-9\-]+)"
    rf"(?::\d{{2,5}})?/[^{_STOP}]*",
    re.IGNORECASE,
)
_HOST_RX = re.compile(r"^(?:https?://)?(?:[^@/?#]*@)?(\[[0-9a-f:.]+\]|[^:/?#]+)", re.IGNORECASE)

# Official registrable domains of brands phishers imitate (Chinese and international).
BRANDS: dict[str, tuple[str, ...]] = {
    "alipay": ("alipay.com", "alipay.cn", "alipayobjects.com"),
    "taobao": ("taobao.com", "taobaocdn.com"),
    "tmall": ("tmall.com", "tmall.hk"),
    "weixin": ("qq.com", "weixin.com", "weixinbridge.com"),
    "wechat": ("wechat.com", "qq.com", "wechatpay.com"),
    "tencent": ("tencent.com", "qq.com", "tencent-cloud.com", "tencentcloud.com"),
    "icbc": ("icbc.com.cn",),
    "ccb": ("ccb.com",),
    "abchina": ("abchina.com",),
    "boc": ("boc.cn",),
    "cmbchina": ("cmbchina.com",),
    "bankcomm": ("bankcomm.com",),
    "12306": ("12306.cn",),
    "chinatax": ("chinatax.gov.cn",),
    "baidu": ("baidu.com", "baidupcs.com", "baidubce.com", "baidustatic.com"),
    "jd": ("jd.com", "jd.hk"),
    "douyin": ("douyin.com", "douyinpic.com", "douyinstatic.com"),
    "meituan": ("meituan.com", "meituan.net"),
    "pinduoduo": ("pinduoduo.com", "yangkeduo.com"),
    "apple": ("apple.com", "apple.com.cn"),
    "icloud": ("icloud.com", "icloud.com.cn"),
    "paypal": ("paypal.com", "paypal.me", "paypalobjects.com"),
    "microsoft": ("microsoft.com", "live.com", "office.com", "microsoftonline.com",
                  "microsoft365.com", "microsoftstore.com.cn"),
    "office365": ("office.com", "microsoft.com", "office365.com"),
    "outlook": ("outlook.com", "live.com", "office365.com"),
    "google": ("google.com", "google.cn", "googleusercontent.com", "googlecode.com",
               "googlesource.com", "googlevideo.com", "googleblog.com",
               "googletagmanager.com", "google-analytics.com"),
    "gmail": ("google.com", "gmail.com"),
    "amazon": ("amazon.com", "amazon.cn", "amazon.co.jp", "amazon.co.uk", "amazon.de",
               "amazonaws.com", "amazonaws.com.cn", "media-amazon.com",
               "ssl-images-amazon.com"),
    "facebook": ("facebook.com", "facebook.net"),
    "netflix": ("netflix.com", "netflix.net"),
    "dhl": ("dhl.com", "dhl.de"),
    "fedex": ("fedex.com",),
    "sfexpress": ("sf-express.com",),
}  # fmt: skip
SHORTENERS = frozenset(
    ("t.cn", "dwz.cn", "url.cn", "suo.im", "m6z.cn", "bit.ly", "bitly.com", "j.mp", "tinyurl.com",
     "goo.gl", "is.gd", "v.gd", "t.co", "ow.ly", "buff.ly", "rebrand.ly", "cutt.ly", "cutt.us",
     "s.id", "rb.gy", "shorturl.at", "tiny.cc", "tiny.one", "bit.do", "t.ly", "x.co", "po.st",
     "qr.net", "soo.gd", "adf.ly", "shorte.st", "bc.vc", "ouo.io", "clck.ru", "u.to", "lnkd.in",
     "db.tt")
)  # fmt: skip
# Names of brands phishing pages imitate, looked for in the *path or subdomains* of a site
# that is not theirs (``/paypal/``, ``/CHASE/step2.php``, ``bankofamerica.evil.com``) and
# inside its registered name (``verifypaypalcard.info``). Only a cue: the model must also score
# the link 0.5 or more, since a project page may well be ``github.com/paypal/…``. The brands
# of BRANDS, and most of those PhishTank's training split names three or more times as the
# target (ordinary words — Orange, Three, Delta, Visa, Poste, Caixa — and names of three
# letters — IRS, DBS, PKO — left out), with the other services they phish for.
PHISHED = tuple(sorted(
    {b for b in BRANDS if len(b) >= 4}
    | {"runescape", "steam", "ebay", "blockchain", "allegro", "bankofamerica", "chase", "amex",
       "americanexpress", "wellsfargo", "santander", "capitec", "docusign", "absa",
       "westernunion", "adobe", "dropbox", "itau", "hsbc", "bradesco", "coinbase", "instagram",
       "twitter", "linkedin", "yahoo", "usaa", "comcast", "wetransfer", "onedrive", "sharepoint",
       "office365", "whatsapp"}
))  # fmt: skip
# Free top-level domains (Freenom's) and free hosting or dynamic-DNS platforms whose names
# anyone gets in a minute: common homes of throwaway phishing pages. Cues, like the above.
FREE_TLDS = frozenset(("tk", "ml", "ga", "cf", "gq"))
FREE_HOSTS = (
    "000webhostapp.com", "weebly.com", "webnode.com", "webnode.page", "ddns.net", "hopto.org",
    "zapto.org", "duckdns.org", "zyns.com", "ngrok.io", "byethost.com", "freehostia.com",
    "wixsite.com", "firebaseapp.com", "web.app", "glitch.me",
)  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")
_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "3": "e", "_": "-"})
_LURE_PATH = ("login", "signin", "logon", "verify", "auth", "account", "password", "passwd",
              "secure", "update", "wallet", "unlock", "confirm", "webscr", "banking")  # fmt: skip


SAFE = ("", 0.0, "the company's own or a brand's official domain")
# The model's score above which a link is reported without another cue (detect.toml
# ``url_model_alone`` changes it). Chosen on the held-out sites (docs/detectors.md,
# Quality): 0.8 flags 1.4% of the links cited in software documentation and finds 81% of
# held-out phishing; 0.5 would flag 3.2%.
MODEL_ALONE = 0.8
# Links judged per message. A chat message carries a few; a pasted dump or a crafted 10 MB
# text can carry 250,000 distinct ones, ~100 µs each on first sight (half a minute).
MAX_LINKS = 2000


def _brand_elsewhere(host: str, registrable: str, rest: str) -> str:
    """A phished brand's name where the brand itself would not put it: as a word (or the
    start of one) in the subdomains or the path, or inside a longer registered name. ``rest``:
    the link after the host; its query is not looked at (``utm_source=facebook`` is
    everywhere)."""
    sub = host[: -len(registrable)] if host.endswith(registrable) else ""
    words = _WORD.findall(sub + " " + rest.split("?", 1)[0].split("#", 1)[0])
    name = _label(registrable)
    for brand in PHISHED:
        if brand == name:  # the brand's own site (allegro.pl), official list or not
            continue
        # a short name only as a word of its own: "applet", "chased", "purchase" are words
        if any(w == brand or (len(brand) >= 6 and w.startswith(brand)) for w in words):
            return f"'{brand}' named in a link of another site"
        if len(brand) >= 6 and brand in name:
            return f"'{brand}' inside the name {registrable}"
    return ""


def skeleton(label: str) -> str:
    """A label with look-alike characters folded (``paypa1`` and ``paypal`` agree)."""
    return label.lower().translate(_CONFUSABLE).replace("rn", "m").replace("vv", "w")


def _within_one_edit(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = j = edits = 0
    while i < len(a) and j < len(b):
        if a[i] != b[j]:
            edits += 1
            if edits > 1:
                return False
            if len(a) == len(b):
                i += 1
            j += 1
        else:
            i += 1
            j += 1
    return edits + (len(b) - j) <= 1


def _label(domain: str) -> str:
    """The distinctive label of a registrable domain: ``yunshan-tech`` of ``yunshan-tech.com``."""
    return domain.split(".", 1)[0]


class SuspiciousUrl(Detector):
    id = "url.suspicious"
    version = "4"
    entities = ("LOOKALIKE_URL", "SUSPICIOUS_URL")
    languages = ("zh", "en")
    description = (
        "Links imitating the company's or a brand's domain (embedded names, look-alike "
        "characters, one edit away, punycode), raw-IP hosts, link shorteners; otherwise a "
        "char n-gram classifier of the link's shape (PhishTank vs ISCX and cited links)"
    )

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self.own = tuple(d.lower().strip(".") for d in config.own_domains)
        self.targets: dict[str, tuple[str, ...]] = {_label(d): (d,) for d in self.own}
        for brand, domains in BRANDS.items():
            self.targets.setdefault(brand, domains)
        self._skeletons = {name: skeleton(name) for name in self.targets}
        self.model = shipped_model("phishing-url", config.models)
        alone = config.url_model_alone
        self.alone = MODEL_ALONE if alone is None else alone or float("inf")
        if alone is not None and alone != MODEL_ALONE:  # another setting, other findings
            self.version = f"{type(self).version}+alone{alone:g}"  # type: ignore[misc]
        self._seen: dict[str, tuple[str, float, str] | None] = {}  # links repeat a lot in chat
        self._by_host: dict[tuple[str, str], tuple[str, float, str] | None] = {}

    def anchors(self) -> Sequence[Anchor]:
        bare = "[a-z0-9]\\.(?:[a-z]{2,24}|xn--[a-z0-9-]+)(?::\\d{2,5})?/"
        return [Anchor("https?://|www\\.", caseless=True), Anchor(bare, caseless=True)]

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            for m in itertools.islice(_URL_RX.finditer(batch.texts[i]), MAX_LINKS):
                url = m.group().rstrip(".,:;!?")
                verdict = self.judge(url)
                if verdict is not None:
                    entity, score, why = verdict
                    expl = Explanation(pattern="url", validator=why, base_score=score)
                    yield Hit(i, m.start(), m.start() + len(url), entity, score, url.lower(), expl)

    def judge(self, url: str) -> tuple[str, float, str] | None:
        """(entity, score, reason) for a suspicious URL; None for an ordinary one."""
        if url in self._seen:
            return self._seen[url]
        verdict = self._judge(url)
        if len(self._seen) >= 100_000:
            self._seen.clear()
        self._seen[url] = verdict
        return verdict

    def _judge(self, url: str) -> tuple[str, float, str] | None:
        verdict = self._rules(url)
        if verdict is SAFE:
            return None
        if verdict is not None:
            return verdict
        # The model sees only the link's shape (see its card): alone it counts when sure,
        # otherwise beside an independent cue.
        p, _grams = self.model.score(url, top=0)
        if p < self.model.card.threshold:
            return None
        cues = self._cues(url)
        if cues:
            why = f"phishing-url model p={p:.3f} with {', '.join(cues)}"
        elif p >= self.alone:
            why = f"phishing-url model p={p:.3f}"
        else:
            return None
        return "SUSPICIOUS_URL", round(0.5 + 0.4 * p, 3), why

    @staticmethod
    def _cues(url: str) -> list[str]:
        low = url.lower()
        hm = _HOST_RX.match(low)
        host = hm.group(1) if hm else ""
        rest = low[hm.end() :] if hm else low
        reg = registrable_domain(low)
        cues = [f"'{w}' in the link" for w in _LURE_PATH if w in rest or w in host[: -len(reg)]]
        if "@" in low.split("/", 3)[2 if "://" in low else 0]:
            cues.append("user@host form")
        if host.count(".") >= 4:
            cues.append("many subdomains")
        if reg.count("-") >= 2 or any(c.isdigit() for c in reg.split(".")[0]):
            cues.append("hyphenated or numbered domain")
        if len(url) > 120:
            cues.append("very long link")
        if brand := _brand_elsewhere(host, reg, rest):
            cues.append(brand)
        if host.rsplit(".", 1)[-1] in FREE_TLDS:
            cues.append("free top-level domain")
        elif any(host == h or host.endswith("." + h) for h in FREE_HOSTS):
            cues.append("free hosting")
        return cues[:3]

    def _rules(self, url: str) -> tuple[str, float, str] | None:
        """The rules' verdict. It depends only on the host and the first lure word of the
        path, so it is kept per (host, word): chat links share a few hosts (shared
        documents, the company's site) and differ in their paths."""
        hm = _HOST_RX.match(url)
        if hm is None:
            return None
        host = hm.group(1).strip("[]").lower().rstrip(".")
        path = url[hm.end() :].lower()
        lure = next((w for w in _LURE_PATH if w in path), "")
        key = (host, lure)
        if key in self._by_host:
            return self._by_host[key]
        verdict = self._host_rules(host, lure)
        if len(self._by_host) >= 100_000:
            self._by_host.clear()
        self._by_host[key] = verdict
        return verdict

    def _host_rules(self, host: str, lure: str) -> tuple[str, float, str] | None:
        try:
            ipaddress.ip_address(host)
            return "SUSPICIOUS_URL", 0.7, f"raw IP address host {host}"
        except ValueError:
            pass
        try:
            shown = host.encode("ascii").decode("idna") if "xn--" in host else host
        except UnicodeError:
            return "SUSPICIOUS_URL", 0.7, "malformed punycode host"
        registrable = registrable_domain(host)
        if any(registrable == d or registrable.endswith("." + d) for d in self.own):
            return SAFE
        if host in SHORTENERS or registrable in SHORTENERS:
            return "SUSPICIOUS_URL", 0.6, f"link shortener {registrable} hides the destination"
        tail = f"; path asks to {lure}" if lure else ""
        # Look-alikes are looked for in the labels the registrant chose. Platforms whose
        # customers get names under them are public suffixes in the PSL's private section
        # (mybucket.s3.amazonaws.com, fonts.googleapis.com): the brand in those was not chosen.
        suffix = public_suffix(host)
        chosen = host[: -len(suffix) - 1] if suffix and host.endswith("." + suffix) else ""
        looks = _Looks.of(chosen, registrable, shown if shown != host else None)
        for name, official in self.targets.items():
            if registrable in official:
                return SAFE
            hit = looks.imitates(name, self._skeletons[name])
            if hit:
                return (
                    "LOOKALIKE_URL",
                    0.9 if lure or name in self._own_labels else 0.8,
                    (f"{hit} {official[0]} but is registered under {registrable}{tail}"),
                )
        if shown != host:
            return "SUSPICIOUS_URL", 0.6, f"internationalised (punycode) domain shown as {shown}"
        return None

    @property
    def _own_labels(self) -> set[str]:
        return {_label(d) for d in self.own}


@dataclass(frozen=True, slots=True)
class _Looks:
    """What a host looks like, worked out once per link and compared with every target
    name (there are dozens: the company's own and the brands)."""

    labels: frozenset[str]
    whole: str  # the host's own labels (no public suffix) with dots as hyphens
    reg_label: str
    reg_skeleton: str
    shown_skeleton: str | None  # of the Unicode form of a punycode host, else None

    @classmethod
    def of(cls, chosen: str, registrable: str, shown: str | None) -> _Looks:
        """``chosen``: the host without its public suffix, the part a registrant picks;
        ``shown``: the Unicode form of a punycode host."""
        reg_label = _label(registrable)
        return cls(
            labels=frozenset(x for x in re.split(r"[.\-]", chosen) if x),
            whole=chosen.replace(".", "-"),
            reg_label=reg_label,
            reg_skeleton=skeleton(reg_label),
            shown_skeleton=skeleton(map_chars(_label(shown))) if shown else None,
        )

    def imitates(self, name: str, name_skeleton: str) -> str:
        # a name inside a label counts where a label or a hyphenated part starts with it
        # (paypal-secure, secure-paypal, icloudfind), not in the middle of a word
        # (huaweicloud, fastapicloud hold "icloud" by chance)
        if (len(name) >= 4 and f"-{name}" in f"-{self.whole}") or name in self.labels:
            return "names"
        if len(name) >= 5 and self.reg_skeleton == name_skeleton:
            return "imitates the characters of"
        if len(name) >= 6 and _within_one_edit(self.reg_label, name):
            return "is one letter away from"
        if len(name) >= 4 and self.shown_skeleton == name_skeleton:
            return "uses look-alike Unicode letters for"
        return ""


BUILTIN = (SuspiciousUrl,)
