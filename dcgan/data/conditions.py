"""Conditioning vectors: class one-hots, multi-hot attribute tags from CelebA or CSV files, mismatches.

Both kinds of condition are a float vector per image, (N, K): a one-hot for a class label, a 0/1
multi-hot for K attribute tags. G and D read either through a linear embedding, so one code
path serves both (an embedding table is a linear map of a one-hot).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch


Tensor = torch.Tensor


class ConditionError(ValueError):
    """An attribute file or request is malformed; the message names the file, line or tag."""


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """(N,) class indices -> (N, K) float one-hots."""
    return torch.nn.functional.one_hot(labels.long(), num_classes).float()


def parse_celeba_attrs(path: str | Path) -> tuple[list[str], dict[str, list[int]]]:
    """CelebA's list_attr_celeba.txt: a count line, a line of 40 names, then `file v1 ... v40` with
    values -1/1. Returns (names, {file name: 0/1 list})."""
    path = Path(path)
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise ConditionError(f"{path}: expected a count line and a line of attribute names, found "
                              f"{len(lines)} line(s)")
    names = lines[1].split()
    table: dict[str, list[int]] = {}
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise ConditionError(f"{path}, line {number}: expected a file name and {len(names)} values, "
                                  f"found {len(parts)} fields")
        try:
            values = [int(v) for v in parts[1:]]
        except ValueError:
            raise ConditionError(f"{path}, line {number}: values must be -1 or 1, got {parts[1:]}") from None
        if any(v not in (-1, 1) for v in values):
            raise ConditionError(f"{path}, line {number}: values must be -1 or 1, got "
                                  f"{sorted(set(values) - {-1, 1})}")
        table[parts[0]] = [int(v == 1) for v in values]
    return names, table


def parse_attr_csv(path: str | Path) -> tuple[list[str], dict[str, list[int]]]:
    """A CSV with a `filename` column (or the first column) and one 0/1 column per tag."""
    path = Path(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2:
        raise ConditionError(f"{path}: expected a header with a filename column and at least one tag "
                              "column, e.g. filename,dark,bright")
    header = [h.strip() for h in rows[0]]
    file_col = header.index("filename") if "filename" in header else 0
    names = [h for i, h in enumerate(header) if i != file_col]
    if len(set(names)) != len(names):
        raise ConditionError(f"{path}: tag names repeat in the header: {names}")
    table: dict[str, list[int]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ConditionError(f"{path}, line {number}: expected {len(header)} fields, found {len(row)}")
        values = [c.strip() for i, c in enumerate(row) if i != file_col]
        if any(v not in ("0", "1") for v in values):
            bad = next(v for v in values if v not in ("0", "1"))
            raise ConditionError(f"{path}, line {number}: tag values must be 0 or 1, got {bad!r}")
        table[row[file_col].strip()] = [int(v) for v in values]
    if not table:
        raise ConditionError(f"{path}: no rows after the header")
    return names, table


def attrs_for_files(files: list[str], table: dict[str, list[int]], source: str | Path) -> Tensor:
    """(N, K) float tags for the dataset's files, looked up by path relative to the folder or by
    file name; every file must have a row."""
    out, missing = [], []
    for f in files:
        row = table.get(f, table.get(Path(f).name))
        if row is None:
            missing.append(f)
            continue
        out.append(row)
    if missing:
        raise ConditionError(f"{source}: {len(missing)} of {len(files)} images have no row, e.g. "
                              f"{missing[0]!r}; add a row per image (by file name)")
    return torch.tensor(out, dtype=torch.float32)


def attrs_vector(request: str | list[str], names: list[str]) -> Tensor:
    """'Smiling,Eyeglasses' -> a (K,) multi-hot with those tags on and the rest off."""
    wanted = [w.strip() for w in (request.split(",") if isinstance(request, str) else request) if w.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise ConditionError(f"unknown attribute(s) {unknown}; valid ones are {', '.join(names)}")
    v = torch.zeros(len(names))
    for w in wanted:
        v[names.index(w)] = 1.0
    return v


def class_index(request: str | int, names: list[str]) -> int:
    """A class given by index ('3') or name ('Trouser') -> its index."""
    text = str(request).strip()
    if text.lstrip("-").isdigit():
        i = int(text)
        if not 0 <= i < len(names):
            raise ConditionError(f"class {i} is out of range: this model has classes 0..{len(names) - 1} "
                                  f"({', '.join(names)})")
        return i
    if text not in names:
        raise ConditionError(f"unknown class {text!r}; valid ones are {', '.join(names)} (or 0..{len(names) - 1})")
    return names.index(text)


def mismatched(cond: Tensor, kind: str) -> Tensor:
    """Conditions that are wrong for each image, for the matching-aware D (Reed et al. 2016).

    Classes: each label moved by a random non-zero offset, so it is never the true one. Attributes:
    the batch's tag vectors shuffled; where a shuffled vector equals the true one, one random tag
    is flipped, so every mismatch differs from the truth.
    """
    n, k = cond.shape
    if kind == "class":
        labels = cond.argmax(1)
        wrong = (labels + torch.randint(1, k, (n,), device=cond.device)) % k
        return one_hot(wrong, k).to(cond.dtype)
    wrong = cond[torch.randperm(n, device=cond.device)]
    same = (wrong == cond).all(1)
    flip = torch.nn.functional.one_hot(torch.randint(0, k, (n,), device=cond.device), k).to(cond.dtype)
    return torch.where(same[:, None], (wrong + flip) % 2, wrong)


def dataset_conditions(cfg, data) -> tuple[Tensor | None, list[str]]:
    """The (N, K) condition of every training image and the K names, as `cfg.model.condition` says
    (None and [] for an unconditional model)."""
    kind = cfg.model.condition
    if kind == "none":
        return None, []
    if kind == "class":
        if data.labels is None:
            raise ConditionError(f"--condition class needs labels, and {data.source} has none: use a "
                                 "labelled dataset or a folder with one subfolder per class")
        k = max(len(data.classes), int(data.labels.max()) + 1)
        names = list(data.classes) or [str(i) for i in range(k)]
        return one_hot(data.labels, k), names
    path = Path(cfg.data.attrs_file) if cfg.data.attrs_file else Path(data.source) / "list_attr_celeba.txt"
    if not path.is_file():
        raise ConditionError(f"attribute file {path} not found: give --attrs-file (a CSV with a filename "
                             "column and one 0/1 column per tag), or put CelebA's list_attr_celeba.txt there")
    if not data.files:
        raise ConditionError(f"--condition attrs needs image files to match against {path}; "
                             f"{cfg.data.dataset} is read from arrays: use --dataset folder or celeba")
    names, table = parse_attr_csv(path) if path.suffix.lower() == ".csv" else parse_celeba_attrs(path)
    return attrs_for_files(data.files, table, path), names


def classes_in_turn(n: int, k: int) -> Tensor:
    """(n, k) one-hots cycling through the k classes: every class equally often."""
    return torch.eye(k)[torch.arange(n) % k]


def fixed_conditions(conds, kind: str, seed: int, n: int = 64):
    """The conditions behind the snapshot grids: classes in order across the grid (each class a
    run of cells), or the tag sets of n real images."""
    if conds is None:
        return None
    if kind == "class":
        k = conds.shape[1]
        return torch.eye(k)[torch.arange(n) * k // n]  # (n, k)
    pick = torch.randperm(len(conds), generator=torch.Generator().manual_seed(seed))
    return conds.cpu()[pick.repeat(n // len(conds) + 1)[:n]]


def eval_conditions(conds, kind: str, n: int, seed: int):
    """Conditions for evaluation samples: every class equally often, or real images' tag sets."""
    if conds is None:
        return None
    if kind == "class":
        return classes_in_turn(n, conds.shape[1])
    return conds[torch.randint(len(conds), (n,), generator=torch.Generator().manual_seed(seed))]
