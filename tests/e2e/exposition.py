"""A strict checker for the Prometheus text exposition format, version 0.0.4,
so the e2e tests can tell whether /metrics would be scraped as meant rather
than merely "looks like metrics".

Stricter than Prometheus's own parser where that costs nothing for a correct
exporter: only # HELP / # TYPE comments, no blank lines, single spaces, no
timestamps on counters we do not write, only the types closehook declares
(counter, gauge, histogram). Every rule the format states is enforced:
names and label names, label value escapes (\\\\ \\" \\n only), HELP escapes
(\\\\ \\n only), HELP/TYPE at most once per family and before its samples, a
family's lines in one group, samples belonging to a declared family (a
histogram's as _bucket with le, _sum, _count), no duplicate series,
cumulative buckets ending in +Inf that equals _count.

parse(text) returns {family name: Family}; any violation raises
ExpositionError naming the line.
"""

import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
# Go's strconv.ParseFloat is what Prometheus uses; we accept its canonical
# spellings only: decimals, exponents, +Inf, -Inf, NaN.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
SPECIAL_NUMBERS = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
TIMESTAMP = re.compile(r"-?[0-9]+\Z")
TYPES = ("counter", "gauge", "histogram")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
LABEL_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
HELP_ESCAPES = {"\\": "\\", "n": "\n"}


class ExpositionError(ValueError):
    pass


class Sample:
    def __init__(self, name, labels, value, lineno):
        self.name = name
        self.labels = labels  # dict, label name -> unescaped value
        self.value = value
        self.lineno = lineno

    def __repr__(self):
        return f"<{self.name}{self.labels} {self.value}>"


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []

    def value(self, suffix="", **labels):
        """The value of the sample name+suffix with exactly these labels, or None."""
        for s in self.samples:
            if s.name == self.name + suffix and s.labels == labels:
                return s.value
        return None


def number(text, where):
    if text in SPECIAL_NUMBERS:
        return SPECIAL_NUMBERS[text]
    if not NUMBER.match(text):
        raise ExpositionError(f"{where}: {text!r} is not a number")
    return float(text)


def unescape(text, escapes, where):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in escapes:
                raise ExpositionError(f"{where}: bad escape in {text!r}")
            out.append(escapes[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text, where):
    """text starts just after '{'; returns (labels, rest after '}')."""
    labels, i = {}, 0
    while True:
        if text[i:i + 1] == "}":
            return labels, text[i + 1:]
        m = re.match(r"([^=]*)=\"", text[i:])
        if not m:
            raise ExpositionError(f"{where}: expected label=\"value\" at {text[i:]!r}")
        name = m.group(1)
        if not LABEL_NAME.match(name) or name.startswith("__"):
            raise ExpositionError(f"{where}: bad label name {name!r}")
        if name in labels:
            raise ExpositionError(f"{where}: label {name!r} given twice")
        i += m.end()
        start = i
        while i < len(text) and text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        if i >= len(text):
            raise ExpositionError(f"{where}: unterminated label value")
        labels[name] = unescape(text[start:i], LABEL_ESCAPES, where)
        i += 1
        if text[i:i + 1] == ",":
            i += 1  # a trailing comma before '}' is allowed by the format
        elif text[i:i + 1] != "}":
            raise ExpositionError(f"{where}: expected ',' or '}}' after a label at {text[i:]!r}")


def parse_sample(line, where):
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
    if not m:
        raise ExpositionError(f"{where}: not a sample: {line!r}")
    name, rest = m.group(0), line[m.end():]
    labels = {}
    if rest.startswith("{"):
        labels, rest = parse_labels(rest[1:], where)
    if not rest.startswith(" ") or rest.startswith("  "):
        raise ExpositionError(f"{where}: expected one space before the value: {line!r}")
    parts = rest[1:].split(" ")
    if len(parts) not in (1, 2) or "" in parts:
        raise ExpositionError(f"{where}: expected 'value [timestamp]': {line!r}")
    value = number(parts[0], where)
    if len(parts) == 2 and not TIMESTAMP.match(parts[1]):
        raise ExpositionError(f"{where}: bad timestamp {parts[1]!r}")
    return Sample(name, labels, value, where)


def family_of(sample_name, families):
    """The declared family a sample name belongs to, or None."""
    f = families.get(sample_name)
    if f is not None and f.type != "histogram":
        return f
    for suffix in HISTOGRAM_SUFFIXES:
        if sample_name.endswith(suffix):
            base = families.get(sample_name[:-len(suffix)])
            if base is not None and base.type == "histogram":
                return base
    return None


def parse(text):
    if not text.endswith("\n"):
        raise ExpositionError("the text does not end with a newline")
    families = {}
    closed = set()  # families whose group of lines has ended
    current = None
    series = set()
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {lineno}"
        if line == "" or line != line.lstrip() or (line != line.rstrip() and not line.startswith("# HELP ")):
            raise ExpositionError(f"{where}: blank line or stray whitespace: {line!r}")
        if line.startswith("#"):
            m = re.match(r"# (HELP|TYPE) (\S+)(?: (.*))?\Z", line, re.S)
            if not m:
                raise ExpositionError(f"{where}: only '# HELP name text' and '# TYPE name type' "
                                      f"comments are allowed: {line!r}")
            kind, name, arg = m.groups()
            arg = arg if arg is not None else ""
            if not METRIC_NAME.match(name):
                raise ExpositionError(f"{where}: bad metric name {name!r}")
            f = families.get(name)
            if f is None:
                f = families[name] = Family(name)
            if name in closed or f.samples:
                raise ExpositionError(f"{where}: {kind} for {name} after its samples")
            if current is not None and current is not f:
                closed.add(current.name)
            current = f
            if kind == "HELP":
                if f.help is not None:
                    raise ExpositionError(f"{where}: second HELP for {name}")
                f.help = unescape(arg, HELP_ESCAPES, where)
            else:
                if f.type is not None:
                    raise ExpositionError(f"{where}: second TYPE for {name}")
                if arg not in TYPES:
                    raise ExpositionError(f"{where}: type {arg!r} is not one of {TYPES}")
                f.type = arg
            continue
        s = parse_sample(line, where)
        f = family_of(s.name, families)
        if f is None or f.type is None:
            raise ExpositionError(f"{where}: sample {s.name} of no declared family (TYPE first)")
        if f.name in closed:
            raise ExpositionError(f"{where}: {f.name}'s lines are not one group")
        if current is not None and current is not f:
            closed.add(current.name)
        current = f
        key = (s.name, frozenset(s.labels.items()))
        if key in series:
            raise ExpositionError(f"{where}: duplicate series {s.name}{s.labels}")
        series.add(key)
        check_sample(f, s, where)
        f.samples.append(s)
    for f in families.values():
        if f.type is None:
            raise ExpositionError(f"{f.name}: HELP without TYPE")
        if f.type == "histogram":
            check_histogram(f)
    return families


def check_sample(f, s, where):
    is_bucket = f.type == "histogram" and s.name == f.name + "_bucket"
    if is_bucket != ("le" in s.labels):
        raise ExpositionError(f"{where}: 'le' belongs on histogram buckets only: {s}")
    if is_bucket:
        number(s.labels["le"], where + " le")
    if f.type == "counter" and not s.value >= 0:
        raise ExpositionError(f"{where}: a counter is not >= 0: {s}")
    if f.type == "histogram" and s.name != f.name + "_sum":
        if not (math.isfinite(s.value) and s.value >= 0 and s.value == int(s.value)):
            raise ExpositionError(f"{where}: a histogram count is not a whole number >= 0: {s}")


def check_histogram(f):
    """Per label set: buckets non-decreasing by le, a +Inf bucket equal to
    _count, and exactly one _sum and _count."""
    groups = {}
    for s in f.samples:
        base = frozenset((k, v) for k, v in s.labels.items() if k != "le")
        g = groups.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if s.name.endswith("_bucket"):
            g["buckets"].append((number(s.labels["le"], s.lineno), s.value, s.lineno))
        elif s.name.endswith("_sum"):
            g["sum"] = s.value
        else:
            g["count"] = s.value
    for base, g in groups.items():
        where = f"{f.name}{dict(base)}"
        if g["sum"] is None or g["count"] is None:
            raise ExpositionError(f"{where}: _sum and _count are both required")
        buckets = sorted(g["buckets"])
        if not buckets or buckets[-1][0] != math.inf:
            raise ExpositionError(f"{where}: no le=\"+Inf\" bucket")
        les = [b[0] for b in buckets]
        if len(set(les)) != len(les):
            raise ExpositionError(f"{where}: a bucket bound given twice")
        for (le_a, a, _), (le_b, b, line) in zip(buckets, buckets[1:]):
            if b < a:
                raise ExpositionError(f"{where} {line}: bucket le={le_b} ({b}) < le={le_a} ({a})")
        if buckets[-1][1] != g["count"]:
            raise ExpositionError(f"{where}: +Inf bucket {buckets[-1][1]} != _count {g['count']}")


def check_content_type(value):
    """text/plain; version=0.0.4 (a charset, if given, is utf-8)."""
    parts = [p.strip() for p in (value or "").split(";")]
    if parts[0].lower() != "text/plain":
        raise ExpositionError(f"Content-Type {value!r} is not text/plain")
    params = {}
    for p in parts[1:]:
        k, sep, v = p.partition("=")
        if not sep:
            raise ExpositionError(f"Content-Type {value!r}: bad parameter {p!r}")
        params[k.strip().lower()] = v.strip()
    if params.get("version") != "0.0.4":
        raise ExpositionError(f"Content-Type {value!r} does not say version=0.0.4")
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise ExpositionError(f"Content-Type {value!r}: charset is not utf-8")
