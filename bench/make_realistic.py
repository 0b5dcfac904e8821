#!/usr/bin/env python3
"""Generate a realistic-shape layer stack: what real builds leave, not mostly adds.

    python bench/make_realistic.py [--out bench/images/real1m.docker.tar] [--scale 1.0]
                                   [--layers 10] [--files 470000] [--dirs 120000]
                                   [--modify 2000] [--whiteouts 1000] [--opaque 30000]
                                   [--relist 0.3] [--type-changes 20] [--seed 18] [--no-oci]

Writes a docker-archive (`docker save` layout, plain layer tars) and, unless --no-oci, the
same image as an oci-archive with gzip layers (NAME.oci.tar next to it), with
layerscope.testing.synth; the same options give the same archives.  The shape (issue 18):

  * layer 0 lays down most of a tree of --dirs directories (random parents, at most six levels
    deep under usr, etc, var, opt, srv, home) and about half of the --files files;
    1 % of its files are hardlinks, 2 % symlinks;
  * every later layer adds the rest of the files in new and in existing directories,
    scattered over the tree as package installs are;
  * every later layer rewrites (new content) or chmods (same content, new mode) --modify
    files whose visible copy is in the layer just below, half each;
  * every layer from the third on whites out --whiteouts files whose visible copy is two
    layers down;
  * every later layer turns --type-changes entries into another type (a file into a
    symlink, a symlink into a file, a small directory into a symlink, a file into a
    directory);
  * a top-level directory `cache` of --opaque entries is written in the middle layer and
    made opaque (and refilled with a few hundred files) two layers later;
  * every later layer re-lists the parent directories of everything it writes (as a
    `docker commit` or a snapshotter diff does), and re-lists --relist of every other
    directory (whose mtime a build touched) with the same metadata.

--scale multiplies --files, --dirs, --modify, --whiteouts and --opaque: 1.0 is about
1.28 M tar entries and 2.7 GB, 2.34 about 3 M.  File sizes are exponential with a 3.8 KB
mean; contents are slices of a generated text, so gzip works on them as on real files.
Writes NAME.counts.json beside the archive (entries per layer, sizes, seconds).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # make_big's save()

try:
    from make_big import save

    from layerscope.testing.synth import EmptyStep, F, ImageSpec, LayerSpec
except ImportError as e:  # pragma: no cover
    sys.exit(f"make_realistic.py needs layerscope.testing.synth ({e}); run from the layerscope checkout")

TOPS = ("usr", "etc", "var", "opt", "srv", "home")
_TEXT_MB = 32
MEAN_SIZE = 3800
MAX_SIZE = 1 << 20
MAX_DEPTH = 5  # directories nest at most this deep below a top-level one (paths stay ustar-sized, as most are)


def make_text(rng: random.Random) -> memoryview:
    """A buffer of word-like text: file contents are slices of it (no copy)."""
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 11)))
             for _ in range(5000)]
    out, n = [], 0
    while n < _TEXT_MB << 20:
        line = " ".join(rng.choices(words, k=rng.randint(3, 14))) + "\n"
        out.append(line)
        n += len(line)
    return memoryview("".join(out).encode())


class Gen:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.rng = random.Random(args.seed)
        self.text = make_text(self.rng)
        s = args.scale
        self.n_files = int(args.files * s)
        self.n_dirs = int(args.dirs * s)
        self.n_modify = int(args.modify * s)
        self.n_whiteouts = int(args.whiteouts * s)
        self.n_opaque = int(args.opaque * s)
        # the visible state: path -> [type, layer, size, offset, mode, link]
        self.cur: dict[str, list] = {}
        self.dirs: list[str] = []  # every directory ever made (some may be gone)
        self.files_at: list[list[str]] = []  # per layer: the files (paths) it wrote
        self.serial = 0

    # -- helpers -------------------------------------------------------
    def content(self) -> tuple[int, int]:
        size = min(int(self.rng.expovariate(1 / MEAN_SIZE)), MAX_SIZE)
        off = self.rng.randrange(0, len(self.text) - size)
        return size, off

    def new_name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:07d}"

    def live_dir(self, max_depth: int = 99) -> str:
        while True:
            d = self.rng.choice(self.dirs)
            st = self.cur.get(d)
            if st is not None and st[0] == "dir" and d.count("/") < max_depth:
                return d

    def make_dirs(self, layer: dict, L: int, n: int) -> None:
        for _ in range(n):
            parent = self.live_dir(MAX_DEPTH) if self.dirs and self.rng.random() < 0.85 else self.rng.choice(TOPS)
            d = f"{parent}/{self.new_name('d')}"
            self.put(layer, L, d, ["dir", L, 0, 0, 0o755, None])
            self.dirs.append(d)

    def put(self, layer: dict, L: int, path: str, st: list) -> None:
        """Write `path` in this layer (and re-list its parents, as a diff does)."""
        layer[path] = st
        p = path
        while True:
            s = p.rfind("/")
            if s < 0:
                break
            p = p[:s]
            if p in layer:
                break
            old = self.cur.get(p)
            layer[p] = list(old) if old is not None and old[0] == "dir" else ["dir", L, 0, 0, 0o755, None]
            layer[p][1] = L
            self.cur[p] = layer[p]
        self.cur[path] = st
        if st[0] == "file":
            self.files_at[L].append(path)

    def remove(self, path: str) -> None:
        """Forget `path` and, for a directory, every visible path under it."""
        st = self.cur.pop(path, None)
        if st is not None and st[0] == "dir":
            pre = path + "/"
            for p in [p for p in self.cur if p.startswith(pre)]:
                del self.cur[p]

    def add_files(self, layer: dict, L: int, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            path = f"{self.live_dir()}/{self.new_name('f')}"
            r = rng.random() if L == 0 else 1.0
            if r < 0.01 and self.files_at[L]:
                target = rng.choice(self.files_at[L])
                if self.cur.get(target, ("",))[0] == "file":
                    self.put(layer, L, path, ["hardlink", L, 0, 0, 0o644, target])
                    continue
            if r < 0.03:
                self.put(layer, L, path, ["symlink", L, 0, 0, 0o777, "../" + self.new_name("t")])
                continue
            size, off = self.content()
            self.put(layer, L, path, ["file", L, size, off, 0o644, None])

    def visible_from(self, L: int, n: int) -> list[str]:
        """Up to n files whose visible copy was written by layer L."""
        cands = [p for p in self.files_at[L] if (st := self.cur.get(p)) is not None and st[0] == "file" and st[1] == L]
        return self.rng.sample(cands, min(n, len(cands)))

    # -- layers --------------------------------------------------------
    def build(self) -> list[list[F]]:
        a, rng = self.a, self.rng
        nl = a.layers
        self.files_at = [[] for _ in range(nl)]
        out: list[list[F]] = []
        base_files = self.n_files // 2
        later_files = (self.n_files - base_files) // max(1, nl - 1)
        base_dirs = int(self.n_dirs * 0.6)
        later_dirs = (self.n_dirs - base_dirs) // max(1, nl - 1)
        opaque_at = nl // 2 + 1 if nl >= 4 else None
        cache_at = opaque_at - 2 if opaque_at is not None else None
        for L in range(nl):
            layer: dict[str, list] = {}
            markers: dict[str, F] = {}  # tar name -> marker
            for t in TOPS:
                if t not in self.cur:
                    self.put(layer, L, t, ["dir", L, 0, 0, 0o755, None])
            if L == 0:
                self.make_dirs(layer, L, base_dirs)
                self.add_files(layer, L, base_files)
            else:
                # whiteouts two layers down, before this layer's writes
                if L >= 2:
                    for p in self.visible_from(L - 2, self.n_whiteouts):
                        d, _, name = p.rpartition("/")
                        markers[f"{d}/.wh.{name}"] = F(p, "whiteout")
                        self.remove(p)
                        self.relist_parent(layer, p)
                if L == opaque_at:
                    markers["cache/.wh..wh..opq"] = F("cache", "opaque")
                    self.remove("cache")
                    self.put(layer, L, "cache", ["dir", L, 0, 0, 0o755, None])
                    self.dirs.append("cache")
                    for _ in range(max(1, self.n_opaque // 60)):
                        size, off = self.content()
                        self.put(layer, L, f"cache/{self.new_name('n')}", ["file", L, size, off, 0o644, None])
                # rewrites and chmods of the layer below
                for k, p in enumerate(self.visible_from(L - 1, self.n_modify)):
                    old = self.cur[p]
                    if k % 2:
                        size, off = self.content()
                        self.put(layer, L, p, ["file", L, size, off, old[4], None])
                    else:
                        self.put(layer, L, p, ["file", L, old[2], old[3], 0o664 if old[4] != 0o664 else 0o600, None])
                self.type_changes(layer, L)
                self.make_dirs(layer, L, later_dirs)
                self.add_files(layer, L, later_files)
                if L == cache_at:
                    nd = max(1, self.n_opaque // 100)
                    for d in range(nd):
                        self.put(layer, L, f"cache/c{d:04d}", ["dir", L, 0, 0, 0o755, None])
                    for k in range(self.n_opaque - nd - 1):
                        size, off = self.content()
                        self.put(layer, L, f"cache/c{k % nd:04d}/o{k:06d}", ["file", L, size, off, 0o644, None])
                # directories a build touched, listed again unchanged
                for d in rng.sample(self.dirs, int(len(self.dirs) * a.relist)):
                    st = self.cur.get(d)
                    if st is not None and st[0] == "dir" and d not in layer:
                        layer[d] = st
            out.append(self.to_entries(layer, markers))
        return out

    def relist_parent(self, layer: dict, path: str) -> None:
        p = path
        while "/" in p:
            p = p.rpartition("/")[0]
            if p in layer:
                break
            st = self.cur.get(p)
            if st is None or st[0] != "dir":
                break
            layer[p] = st

    def type_changes(self, layer: dict, L: int) -> None:
        files = self.visible_from(L - 1, 3 * self.a.type_changes) if L >= 1 else []
        k = 0
        for p in files[: self.a.type_changes]:  # file -> symlink
            self.put(layer, L, p, ["symlink", L, 0, 0, 0o777, "../" + self.new_name("t")])
            k += 1
        for p in files[self.a.type_changes: 2 * self.a.type_changes]:  # file -> directory with a file
            self.remove(p)
            self.put(layer, L, p, ["dir", L, 0, 0, 0o755, None])
            self.dirs.append(p)
            size, off = self.content()
            self.put(layer, L, f"{p}/{self.new_name('f')}", ["file", L, size, off, 0o644, None])
        links = [p for p, st in self.cur.items() if st[0] == "symlink" and st[1] == L - 1][: self.a.type_changes]
        for p in links:  # symlink -> file
            size, off = self.content()
            self.put(layer, L, p, ["file", L, size, off, 0o644, None])
        for _ in range(max(1, self.a.type_changes // 4)):  # a small directory -> symlink (drops its subtree)
            d = self.live_dir()
            if d in TOPS or d == "cache" or d in layer:
                continue
            self.remove(d)
            self.put(layer, L, d, ["symlink", L, 0, 0, 0o777, "/" + self.new_name("moved")])

    def to_entries(self, layer: dict, markers: dict[str, F]) -> list[F]:
        text = self.text
        out = []
        names = [(p.replace("/", "\0"), p) for p in layer] + [(n.replace("/", "\0"), n) for n in markers]
        for _, p in sorted(names):  # tar order: a directory, then its subtree (markers among them)
            if p in markers:
                out.append(markers[p])
                continue
            typ, _, size, off, mode, link = layer[p]
            if typ == "file":
                out.append(F(p, data=text[off:off + size], mode=mode))
            elif typ == "dir":
                out.append(F(p, "dir", mode=mode))
            else:
                out.append(F(p, typ, mode=mode, link=link))
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "images" / "real1m.docker.tar"))
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--files", type=int, default=470_000)
    ap.add_argument("--dirs", type=int, default=120_000)
    ap.add_argument("--modify", type=int, default=2_000, help="files of the layer below rewritten or chmodded, per layer")
    ap.add_argument("--whiteouts", type=int, default=1_000, help="files of two layers down deleted, per layer")
    ap.add_argument("--opaque", type=int, default=30_000, help="entries of the directory made opaque")
    ap.add_argument("--relist", type=float, default=0.5, help="fraction of all directories every layer re-lists")
    ap.add_argument("--type-changes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--no-oci", action="store_true", help="do not write the gzip oci-archive too")
    ap.add_argument("--no-docker", action="store_true", help="write only the gzip oci-archive")
    args = ap.parse_args()

    t0 = time.perf_counter()
    layers = Gen(args).build()
    counts = [len(entries) for entries in layers]
    t1 = time.perf_counter()
    specs = [LayerSpec(entries, created_by=f"RUN /bin/sh -c step-{k}") for k, entries in enumerate(layers)]
    steps: list = []
    for spec in specs:
        steps.append(spec)
        if spec is specs[0]:
            steps.append(EmptyStep('/bin/sh -c #(nop)  CMD ["bash"]'))
    img = ImageSpec(steps, repo_tags=["lsbench/realistic:latest"], cmd=["bash"])

    save(img, specs, Path(args.out), counts, t0, t1, docker=not args.no_docker, oci=not args.no_oci,
         files=sum(1 for entries in layers for f in entries if f.type == "file"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
