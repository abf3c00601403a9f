"""Inter-reviewer agreement: Krippendorff's alpha (nominal) over a rolling window of settled tasks."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence


def krippendorff_alpha(units: Iterable[Sequence[str]]) -> float | None:
    """Nominal Krippendorff's alpha over units (one list of labels per item, any number of coders).

    Units with fewer than two labels carry no pairing information and are skipped. None when there is
    nothing to measure (no pairable unit, or every label in the window is the same value).
    """
    coincidence: defaultdict[tuple[str, str], float] = defaultdict(float)
    for unit in units:
        m = len(unit)
        if m < 2:
            continue
        counts = Counter(unit)
        for a, na in counts.items():
            for b, nb in counts.items():
                pairs = na * (nb - 1) if a == b else na * nb
                coincidence[(a, b)] += pairs / (m - 1)
    n = sum(coincidence.values())
    if n <= 1:
        return None
    marginals: defaultdict[str, float] = defaultdict(float)
    for (a, _b), weight in coincidence.items():
        marginals[a] += weight
    observed = sum(w for (a, b), w in coincidence.items() if a != b) / n
    expected = sum(marginals[a] * marginals[b] for a in marginals for b in marginals if a != b) / (
        n * (n - 1)
    )
    if expected == 0:
        return None
    return 1.0 - observed / expected


class AgreementWindow:
    """The last `size` multi-reviewer units of one queue, and their alpha."""

    def __init__(self, size: int = 200) -> None:
        self.units: deque[tuple[str, ...]] = deque(maxlen=size)

    def add(self, labels: Sequence[str]) -> float | None:
        """Record one settled task's labels; the window's alpha after it."""
        if len(labels) >= 2:
            self.units.append(tuple(labels))
        return self.alpha()

    def alpha(self) -> float | None:
        """Krippendorff's alpha of the window, None until it can be measured."""
        return krippendorff_alpha(self.units)
