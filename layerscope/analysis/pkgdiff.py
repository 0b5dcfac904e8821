"""Package changes between two images (`diff A B`): packages added, removed
and whose version changed, with the bytes of each in both final views, as
analysis.packages counts them."""

from __future__ import annotations

from ..model import Record

ADDED, REMOVED, VERSION, BYTES = "added", "removed", "version", "bytes"


class PackageChange(Record):
    __slots__ = ("manager", "name", "arch", "location", "change", "version_a", "version_b", "bytes_a", "bytes_b")

    def __init__(self, manager: str, name: str, arch: str, location: str, change: str, version_a: str | None,
                 version_b: str | None, bytes_a: int, bytes_b: int) -> None:
        self.manager = manager
        self.name = name
        self.arch = arch
        self.location = location
        self.change = change  # added | removed | version | bytes (same version, other bytes)
        self.version_a = version_a
        self.version_b = version_b
        self.bytes_a = bytes_a
        self.bytes_b = bytes_b

    @property
    def delta(self) -> int:
        return self.bytes_b - self.bytes_a


class _Side:
    """What the package analysis needs of an image: its merge, and reading
    its files (ImageAnalysis's own readers, without the waste and change
    kinds a diff does not use)."""

    def __init__(self, stack) -> None:
        from . import ImageAnalysis

        self.stack = stack
        self.layers = stack.layers
        self._read = ImageAnalysis.read
        self._link = ImageAnalysis.hardlink_target

    def read(self, L: int, i: int, cap: int | None = None) -> bytes:
        return self._read(self, L, i, cap)

    def hardlink_target(self, L: int, i: int):
        return self._link(self, L, i)


def package_analysis(stack):
    from .packages import PackageAnalysis

    return PackageAnalysis(_Side(stack))


def compare_packages(stack_a, stack_b) -> tuple[list[PackageChange], list[str]]:
    """The package changes from A to B, biggest |bytes delta| first, and the
    readers' notes of both sides."""
    pa, pb = package_analysis(stack_a), package_analysis(stack_b)
    ra = {(r.manager, r.location, r.name, r.arch): r for r in pa.rows()}
    rb = {(r.manager, r.location, r.name, r.arch): r for r in pb.rows()}
    out = []
    for k, x in ra.items():
        y = rb.get(k)
        if y is None:
            out.append(PackageChange(x.manager, x.name, x.arch, x.location, REMOVED, x.version, None, x.bytes, 0))
        elif x.version != y.version or x.bytes != y.bytes:
            out.append(PackageChange(x.manager, x.name, x.arch, x.location,
                                     VERSION if x.version != y.version else BYTES, x.version, y.version, x.bytes,
                                     y.bytes))
    for k, y in rb.items():
        if k not in ra:
            out.append(PackageChange(y.manager, y.name, y.arch, y.location, ADDED, None, y.version, 0, y.bytes))
    out.sort(key=lambda c: (-abs(c.delta), c.manager, c.name, c.arch, c.location))
    notes = [f"A: {n}" for n in pa.notes] + [f"B: {n}" for n in pb.notes]
    return out, notes
