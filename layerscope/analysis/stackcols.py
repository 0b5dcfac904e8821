"""The merge pass of `stack.Stack` on columns, for big stacks (numpy).

Gives exactly what `Stack._apply_all` gives (every column, the deletions in
order, the implied directories in order, the top view as a mapping), by the
same rules (see `stack`'s docstring), with the per-entry work done on arrays:

  * every path (and every parent a path implies) gets an id; the state is one
    array over ids: the global index of the visible entry, NONE or IMPLIED;
  * a layer's markers are applied one by one, each subtree found as the ids
    whose path starts with "dir/" (a range of the sorted paths, sorted once and
    only when a directory's subtree is first needed);
  * a layer's entries split in two.  An entry is *simple* when it cannot touch
    anything but its own path: listed once, its parent the root, a directory
    visible below or a directory listed earlier in this layer, and it does not
    put a non-directory over a directory nor over an implied one.  Every entry
    that is such an exception, or an ancestor or a descendant of one, is
    *complex*.  Simple entries touch disjoint paths that no complex entry
    reads, so all of them are applied at once (gather, compare, scatter) and
    the complex ones after, one by one in their order, as the general loop does.

Imported only for stacks of many entries: numpy costs small images start-up time.
"""

from __future__ import annotations

from array import array
from itertools import chain, count, islice, repeat
from operator import itemgetter

import numpy as np

from ..model import DIR, OPAQUE, WHITEOUT

NONE = -1  # no visible entry at a path
IMPLIED_DIR = -2  # an implied directory is visible at a path
_first = itemgetter(0)
_CHUNK = 1 << 16


def apply(stack, k) -> None:
    """Fill `stack`'s columns, deletions, implied dirs and top view; `k` is
    the `stack` module, for its codes (passed in: no import cycle)."""
    VISIBLE, IMPLIED, Deletion = k.VISIBLE, k.IMPLIED, k.Deletion
    OVERWRITTEN, WHITED_OUT, OPAQUED, REPLACED = k.OVERWRITTEN, k.WHITED_OUT, k.OPAQUED, k.REPLACED
    ADDED, MODIFIED, UNCHANGED, DELETES, NOOP = k.ADDED, k.MODIFIED, k.UNCHANGED, k.DELETES, k.NOOP
    ents = [layer.entries for layer in stack.layers]
    n = len(ents)
    sizes = [len(e) for e in ents]
    offs = [0]
    for m in sizes:
        offs.append(offs[-1] + m)
    total = offs[-1]

    # -- path ids: a path's id is the global index of its first entry; the
    # root and the parents no entry lists get ids from `total` on ------
    allp = list(chain(*(e.paths for e in ents)))
    root = total
    ids: dict[str, int] = {"": root}
    pid = np.fromiter(map(ids.setdefault, allp, count()), dtype=np.int32, count=total)
    extra = [""]
    par = np.full(root + 1, root, dtype=np.int32)
    todo: list[tuple[list[str], list[int]]] = []  # (paths, their ids) whose parents are to be found
    if len(ids) > 1:
        todo.append((list(islice(ids, 1, None)), list(islice(ids.values(), 1, None))))
    while todo:
        names, qs = todo.pop()
        for k in range(0, len(names), _CHUNK):  # in pieces: the parents' strings are a path's worth each
            pp = list(map(_first, map(str.rpartition, names[k:k + _CHUNK], repeat("/"))))
            new = [p for p in dict.fromkeys(pp) if p not in ids]
            if new:
                base = root + len(extra)
                ids.update(zip(new, range(base, base + len(new))))
                extra.extend(new)
                par = np.concatenate([par, np.full(len(new), root, dtype=np.int32)])
                todo.append((new, list(range(base, base + len(new)))))
            par[np.array(qs[k:k + _CHUNK], dtype=np.int64)] = np.fromiter(map(ids.__getitem__, pp), dtype=np.int32,
                                                                          count=len(pp))
        del names, qs
    nid = root + len(extra)
    keys = allp  # id -> path
    keys.extend(extra)
    # one string object per path: a path every layer re-lists (a parent directory) was one string per
    # listing, and the layers' entries keep their paths as long as the analysis lives
    for k in range(0, total, _CHUNK):
        keys[k:min(k + _CHUNK, total)] = map(keys.__getitem__, pid[k:k + _CHUNK].tolist())
    for L in range(n):
        ents[L].paths[:] = keys[offs[L]:offs[L + 1]]
    uv = np.fromiter(islice(ids.values(), 1, None), dtype=np.int32, count=len(ids) - 1)  # every id but the root's
    # children of every id, as ranges of `kids_by`
    kids_by = uv[np.argsort(par[uv], kind="stable")]
    kid_n = np.bincount(par[uv], minlength=nid).astype(np.int32)
    kid_start = (np.cumsum(kid_n, dtype=np.int64) - kid_n).astype(np.int32)
    del ids

    # -- the entries as global columns -----------------------------------
    tb = b"".join(bytes(e.types) for e in ents)
    T = np.frombuffer(tb, dtype=np.uint8)
    modes = np.concatenate([np.frombuffer(e.modes, dtype=np.uint32) for e in ents]) if n else np.zeros(0, np.uint32)
    uids = np.concatenate([np.frombuffer(e.uids, dtype=np.uint32) for e in ents]) if n else np.zeros(0, np.uint32)
    gids = np.concatenate([np.frombuffer(e.gids, dtype=np.uint32) for e in ents]) if n else np.zeros(0, np.uint32)
    layer_of = np.repeat(np.arange(n, dtype=np.int32), sizes)
    off_np = np.array(offs, dtype=np.int64)
    is_dir_t = np.zeros(256, dtype=bool)
    is_dir_t[DIR] = True
    is_marker_t = np.zeros(256, dtype=bool)
    is_marker_t[WHITEOUT] = is_marker_t[OPAQUE] = True

    HA = np.full(total, VISIBLE, dtype=np.int32)
    HB = np.full(total, -1, dtype=np.int32)
    HOW = np.zeros(total, dtype=np.uint8)
    PL = np.full(total, -1, dtype=np.int32)
    PI = np.full(total, -1, dtype=np.int32)
    CH = np.zeros(total, dtype=np.uint8)
    cur = np.full(nid, NONE, dtype=np.int32)
    implied = stack.implied
    deletions: list[list] = [[] for _ in range(n)]
    lpos = np.full(nid, -1, dtype=np.int32)  # scratch: where a path is listed in the current layer
    flag = np.zeros(nid, dtype=bool)  # scratch

    def subtree(q: int) -> np.ndarray:
        """Ids of every visible path under path id q (not q itself, but for
        the root: the general loop counts an entry at the root as its child)."""
        found = [np.array([root], dtype=np.int32)] if q == root and cur[root] != NONE else []
        front = np.array([q], dtype=np.int64)
        while front.size:
            st, ln = kid_start[front], kid_n[front]
            tot = int(ln.sum())
            if not tot:
                break
            # the children of every node of the front, gathered at once
            at = np.repeat(st - (np.cumsum(ln) - ln), ln) + np.arange(tot)
            kids = kids_by[at]
            kids = kids[cur[kids] != NONE]  # a hidden path has nothing visible under it
            found.append(kids)
            front = kids.astype(np.int64)
        return np.concatenate(found) if found else front[:0].astype(np.int32)

    def ref(q: int, g: int) -> tuple[int, int]:
        if g == IMPLIED_DIR:
            return implied[keys[q]][0], IMPLIED
        L = int(layer_of[g])
        return L, g - offs[L]

    def hide_under(q: int, L: int, by: int, how: int, dels: list, record_children: bool,
                   g_root: int | None = None) -> int:
        """Hide every visible path under q (whose entry is g_root, when known);
        a Deletion for each direct child when record_children (in path order).
        Returns how many were recorded."""
        if q != root:
            g = int(cur[q]) if g_root is None else g_root
            if g >= 0 and tb[g] != DIR:
                return 0  # nothing is ever under a non-directory
        sub = subtree(q)
        if not sub.size:
            return 0
        gs = cur[sub]
        recorded = 0
        if record_children:
            direct = sorted(sub[par[sub] == q].tolist(), key=keys.__getitem__)
            for c in direct:
                dels.append(Deletion(keys[c], L, by, how, *ref(c, int(cur[c]))))
                recorded += 1
        real = gs >= 0
        gr = gs[real]
        HA[gr] = L
        HB[gr] = by
        HOW[gr] = how
        if not real.all():
            for c in sub[~real].tolist():
                implied[keys[c]][1] = L
        cur[sub] = NONE
        return recorded

    def hide_one(q: int, g: int, L: int, by: int, how: int) -> None:
        if g == IMPLIED_DIR:
            implied[keys[q]][1] = L
        else:
            HA[g] = L
            HB[g] = by
            HOW[g] = how
        cur[q] = NONE

    def imply(d: int, L: int, dels: list) -> None:
        chain_ = []
        x = d
        while x != root:
            g = int(cur[x])
            if g != NONE:
                if g == IMPLIED_DIR or tb[g] == DIR:
                    break
                dels.append(Deletion(keys[x], L, -1, REPLACED, *ref(x, g)))
                cur[x] = NONE
                HA[g] = L
                HB[g] = -1
                HOW[g] = REPLACED
            chain_.append(x)
            x = int(par[x])
        for x in reversed(chain_):
            cur[x] = IMPLIED_DIR
            implied[keys[x]] = [L, VISIBLE]

    def mark_lineage(seeds: np.ndarray, pe: np.ndarray) -> np.ndarray:
        """Which of the ids pe are an ancestor or a descendant of a seed."""
        flag[seeds] = True  # descendants: some proper ancestor is a seed
        a = par[pe]
        hit = flag[a]
        while (a != root).any():
            a = par[a]
            hit |= flag[a]
        flag[seeds] = False
        a = par[seeds]  # ancestors of a seed
        while a.size:
            flag[a] = True
            a = par[a[a != root]]
        hit |= flag[pe]
        flag[:] = False
        return hit

    for L in range(n):
        s, e = offs[L], offs[L + 1]
        if s == e:
            continue
        dels = deletions[L]
        paths = ents[L].paths
        Tl = T[s:e]
        pl = pid[s:e]
        # 1. markers, in order
        for i in np.flatnonzero(is_marker_t[Tl]).tolist():
            q = int(pl[i])
            if tb[s + i] == WHITEOUT:
                g = int(cur[q])
                if g != NONE:
                    CH[s + i] = DELETES
                    dels.append(Deletion(paths[i], L, i, WHITED_OUT, *ref(q, g)))
                    hide_one(q, g, L, i, WHITED_OUT)
                    hide_under(q, L, i, WHITED_OUT, dels, False, g)
                else:
                    CH[s + i] = NOOP
            else:
                if q == root or cur[q] != NONE:
                    CH[s + i] = DELETES if hide_under(q, L, i, OPAQUED, dels, True) else NOOP
                else:
                    CH[s + i] = NOOP
        # 2. entries: which are simple
        ent = np.flatnonzero(~is_marker_t[Tl])
        if not ent.size:
            continue
        pe = pl[ent]
        te = Tl[ent]
        ge = ent + s
        srt = np.sort(pe)
        dup_ids = srt[1:][srt[1:] == srt[:-1]]
        lpos[pe] = ent
        qe = par[pe]
        lp = lpos[qe]
        listed_ok = (lp >= 0) & (lp < ent) & is_dir_t[T[np.where(lp >= 0, lp, 0) + s]]
        gq = cur[qe]
        vis_dir = (gq == IMPLIED_DIR) | ((gq >= 0) & is_dir_t[T[np.maximum(gq, 0)]])
        parent_ok = np.where(lp >= 0, listed_ok, vis_dir) | (qe == root)
        lpos[pe] = -1
        old = cur[pe]
        old_dir = (old == IMPLIED_DIR) | ((old >= 0) & is_dir_t[T[np.maximum(old, 0)]])
        complex_ = ~parent_ok | (pe == root) | (old == IMPLIED_DIR) | (old_dir & ~is_dir_t[te])
        if dup_ids.size:
            flag[dup_ids] = True
            complex_ |= flag[pe]
            flag[dup_ids] = False
        if complex_.any():
            complex_ |= mark_lineage(np.unique(pe[complex_]), pe)
        # simple entries, all at once
        simple = ~complex_
        sg, sp, so = ge[simple], pe[simple], old[simple]
        CH[sg[so == NONE]] = ADDED
        ov = so >= 0
        if ov.any():
            og, gi = so[ov], sg[ov]
            ol = layer_of[og]
            PL[gi] = ol
            PI[gi] = og - off_np[ol]
            HA[og] = L
            HB[og] = gi - s
            HOW[og] = OVERWRITTEN
            same = is_dir_t[T[gi]] & is_dir_t[T[og]] & (modes[og] == modes[gi]) & (uids[og] == uids[gi]) & \
                (gids[og] == gids[gi])
            CH[gi] = np.where(same, UNCHANGED, MODIFIED)
        cur[sp] = sg
        # complex entries, one by one in order (the general loop's steps)
        for i in ent[complex_].tolist():
            p = paths[i]
            q = int(pl[i])
            g = s + i
            t = tb[g]
            if p.rfind("/") >= 0:
                d = int(par[q])
                gd = int(cur[d])
                if gd == NONE or (gd != IMPLIED_DIR and tb[gd] != DIR):
                    imply(d, L, dels)
            o = int(cur[q])
            if o == NONE:
                CH[g] = ADDED
            else:
                if o == IMPLIED_DIR:
                    old_is_dir = True
                    implied[p][1] = L
                else:
                    ol_ = int(layer_of[o])
                    PL[g] = ol_
                    PI[g] = o - offs[ol_]
                    old_is_dir = tb[o] == DIR
                    HA[o] = L
                    HB[o] = i
                    HOW[o] = OVERWRITTEN
                if t == DIR and old_is_dir:
                    same = o != IMPLIED_DIR and modes[o] == modes[g] and uids[o] == uids[g] and gids[o] == gids[g]
                    CH[g] = UNCHANGED if same else MODIFIED
                else:
                    CH[g] = MODIFIED
                    if old_is_dir:
                        hide_under(q, L, i, REPLACED, dels, True)
            cur[q] = g

    # -- back to the Stack's per-layer columns ---------------------------
    for L in range(n):
        s, e = offs[L], offs[L + 1]
        stack.hidden_at.append(array("i", HA[s:e].tobytes()))
        stack.hidden_by.append(array("i", HB[s:e].tobytes()))
        stack.how.append(bytearray(HOW[s:e].tobytes()))
        stack.prev_layer.append(array("i", PL[s:e].tobytes()))
        stack.prev_index.append(array("i", PI[s:e].tobytes()))
        stack.change.append(bytearray(CH[s:e].tobytes()))
        stack.deletions.append(deletions[L])
    # the merge's columns are freed before the top view's objects are made: the peak is then one of them
    HA = HB = HOW = PL = PI = CH = T = modes = uids = gids = lpos = flag = kids_by = kid_n = kid_start = par = \
        pid = uv = None  # (rebound, not deleted: the helpers above still name them)
    vis = np.flatnonzero(cur != NONE)
    top: dict[str, tuple[int, int]] = {}
    for k in range(0, vis.size, _CHUNK):  # in pieces: every index is an int object until it is in a tuple
        v = vis[k:k + _CHUNK]
        gv = cur[v]
        real = gv >= 0
        gr = gv[real]
        lr = layer_of[gr]
        top.update(zip(map(keys.__getitem__, v[real].tolist()), zip(lr.tolist(), (gr - off_np[lr]).tolist())))
        for p in map(keys.__getitem__, v[~real].tolist()):
            top[p] = (implied[p][0], IMPLIED)
    stack.top_view = top
