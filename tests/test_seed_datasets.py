"""The seed projects' datasets end to end: CelebA's real layout at 64 and 128 px, an anime-face folder
with a tags CSV at 96 px and D reading the tags concatenated: train, sample with --attrs, resume."""

import json

import numpy as np
import pytest
from PIL import Image

from dcgan.cli import main


CELEBA_ATTRS = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
                "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
                "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
                "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
                "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie "
                "Young").split()
TINY = ["--nz", "8", "--ngf", "4", "--ndf", "4", "--batch-size", "8", "--precision", "fp32", "--no-progress",
        "--no-download", "--snapshot-every", "2", "--checkpoint-every", "2", "--log-every", "1"]


def _picture(rng, width, height, alpha=False):
    """A smooth random picture (JPEG-friendly), RGB or RGBA."""
    small = rng.integers(0, 256, (4, 3, 4 if alpha else 3), dtype=np.uint8)
    return Image.fromarray(small, "RGBA" if alpha else "RGB").resize((width, height), Image.BILINEAR)


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    """data/celeba as the CelebA site ships it: img_align_celeba/ of 178x218 JPEGs, the 40-attribute
    list (values -1/1, aligned with two spaces) and the train/validation/test partition."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    n = 40
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    attrs = rng.choice([-1, 1], size=(n, len(CELEBA_ATTRS)))
    for name in names:
        _picture(rng, 178, 218).save(folder / "img_align_celeba" / name, quality=90)
    (folder / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(CELEBA_ATTRS) + " \n"
        + "".join(f"{name} " + " ".join(f"{v:2d}" for v in row) + "\n" for name, row in zip(names, attrs)))
    partition = [0] * 32 + [1] * 4 + [2] * 4  # 32 train, 4 validation, 4 test
    (folder / "list_eval_partition.txt").write_text("".join(f"{a} {b}\n" for a, b in zip(names, partition)))
    return root


@pytest.mark.parametrize("size", [64, 128])
def test_celeba_real_layout_trains_samples_with_attrs_and_resumes(celeba_root, size, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", "celeba", "--data-root", str(celeba_root), "--image-size", str(size),
            "--condition", "attrs", *TINY, "--out", str(run)]
    assert main([*args, "--max-steps", "2"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["image_size"] == size and config["model"]["condition"] == "attrs"
    # the training split only: 32 images of partition 0, each with its 40 tags
    cache = next((celeba_root / "cache").glob(f"celeba-train-{size}px-3ch.json"))
    meta = json.loads(cache.read_text())
    assert meta["shape"] == [32, 3, size, size] and meta["files"][0] == "img_align_celeba/000001.jpg"

    assert main(["train", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 4
    assert (run / "samples" / "step_0000004.png").is_file()

    out = tmp_path / "smiling.png"
    assert main(["sample", str(run), "--attrs", "Smiling,Eyeglasses", "--n", "4", "--out", str(out)]) == 0
    grid = Image.open(out)
    assert grid.mode == "RGB" and grid.size == (2 + 4 * (size + 2), 2 + (size + 2))
    capsys.readouterr()
    assert main(["sample", str(run), "--attrs", "Smiling,Tail", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown attribute(s) ['Tail']" in capsys.readouterr().err


@pytest.fixture(scope="module")
def anime_folder(tmp_path_factory):
    """An anime-face folder as the tag cGAN's (96x96 PNGs) with a tags CSV: a filename column, one 0/1
    column per tag; file names sit in subfolders by source, as scraped sets do."""
    folder = tmp_path_factory.mktemp("anime")
    rng = np.random.default_rng(1)
    tags = ["blonde_hair", "blue_hair", "blue_eyes", "red_eyes", "smile"]
    rows = ["filename," + ",".join(tags)]
    for i in range(24):
        name = f"{'ab'[i % 2]}/{i:05d}.png"
        (folder / name).parent.mkdir(exist_ok=True)
        _picture(rng, 96, 96).save(folder / name)
        rows.append(name + "," + ",".join(str(v) for v in rng.integers(0, 2, len(tags))))
    (folder / "tags.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_anime_folder_with_tags_at_96_and_concat_d(anime_folder, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", "folder", "--folder", str(anime_folder), "--data-root", str(tmp_path / "d"),
            "--image-size", "96", "--condition", "attrs", "--attrs-file", str(anime_folder / "tags.csv"),
            "--d-condition", "concat", *TINY, "--out", str(run)]
    assert main([*args, "--max-steps", "2"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["d_condition"] == "concat" and config["data"]["image_size"] == 96

    assert main(["train", "--resume", str(run), "--max-steps", "4", "--no-progress"]) == 0
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 4

    # an uninterrupted run of 4 iterations ends on the same weights as 2 + 2 resumed
    import torch

    straight = tmp_path / "straight"
    assert main([*args[:-1], str(straight), "--max-steps", "4"]) == 0
    a = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"]) and all(torch.equal(a["D"][k], b["D"][k])
                                                                           for k in a["D"])

    out = tmp_path / "blonde.png"
    assert main(["sample", str(run), "--attrs", "blonde_hair,blue_eyes,smile", "--n", "3", "--out", str(out)]) == 0
    assert Image.open(out).size == (2 + 3 * 98, 2 + 98)
    files = tmp_path / "each"
    assert main(["sample", str(run), "--attrs", "red_eyes", "--n", "2", "--out", f"{files}/"]) == 0
    assert [Image.open(p).size for p in sorted(files.glob("*.png"))] == [(96, 96), (96, 96)]
    capsys.readouterr()
    assert main(["sample", str(run), "--attrs", "green_hair", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown attribute(s) ['green_hair']" in capsys.readouterr().err
