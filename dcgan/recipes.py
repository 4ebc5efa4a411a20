"""Training recipes: named presets of settings, and where each setting comes from (`--recipe list`)."""

from __future__ import annotations

from typing import Any

# A recipe fills in the settings the user did not give (explicit ones win; config.from_flat applies it).
# Every number in benchmarks/objectives.py's table: Fashion-MNIST 32x32, the default run's budget of
# 3 epochs (1404 G updates of 128 images), FID in the Fashion-MNIST classifier's features on 10k samples.
# config.py's dataclass defaults are the default recipe's, so Config() and Config.from_flat() agree.
RECIPES: dict[str, dict[str, Any]] = {
    # every recipe names every setting any recipe changes, so none inherits another's
    "classic": {"grad_clip": 0.0, "lr": 2e-4, "lr_g": 0.0, "ema_decay": 0.0, "label_smoothing": 0.0,  # Radford et al.
                "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "penalty_clip": "own"},
    "tuned": {"grad_clip": 10.0, "lr": 2e-4, "lr_g": 0.0, "ema_decay": 0.0, "label_smoothing": 0.0,  # before issue 14
              "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "penalty_clip": "own"},
    "fast": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 0.0, "ema_decay": 0.0, "label_smoothing": 0.0,
             "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "penalty_clip": "own"},
    "fast-g": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 8e-4, "ema_decay": 0.0, "label_smoothing": 0.0,
               "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "penalty_clip": "own"},
    "fast-g-ema": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999, "label_smoothing": 0.1,
                   "r1_weight": 0.0, "r1_every": 1, "batch_size": 128, "penalty_clip": "own"},
    "fast-g-ema-r1": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999, "label_smoothing": 0.1,
                      "r1_weight": 0.1, "r1_every": 16, "batch_size": 128, "penalty_clip": "joint"},
    "fast-g-ema-r1-b64": {"grad_clip": 10.0, "lr": 4e-4, "lr_g": 1.2e-3, "ema_decay": 0.999,
                          "label_smoothing": 0.1, "r1_weight": 0.1, "r1_every": 16, "batch_size": 64,
                          "penalty_clip": "own"},
}
DEFAULT_RECIPE = "fast-g-ema-r1-b64"
# what each recipe adds when G and D are conditional (--condition class or attrs), over RECIPES[name]
CONDITIONAL: dict[str, dict[str, Any]] = {name: {"mismatch_weight": 0.0, "mode_seeking": 0.0,
                                                  "penalty_clip": RECIPES[name]["penalty_clip"]} for name in RECIPES}
CONDITIONAL["fast-g-ema-r1-b64"] = {"mismatch_weight": 0.5, "mode_seeking": 1.0, "penalty_clip": "joint"}
# where each recipe setting comes from: `dcgan train --recipe list` prints this
RECIPE_SOURCES: dict[str, dict[str, str]] = {
    "classic": {"": "Radford et al. 2015: Adam lr 2e-4, betas (0.5, 0.999), batch 128, BCE, N(0, 0.02) init",
                "grad_clip": "the paper clips nothing (0: off)",
                "lr": "the paper's Adam learning rate",
                "lr_g": "G uses --lr, as in the paper (0: the same rate as D)",
                "ema_decay": "the paper samples from G itself (0: off)",
                "label_smoothing": "the paper's targets, 1 for real and 0 for fake (0: off)",
                "r1_weight": "no penalty in the paper (0: off)",
                "r1_every": "no penalty, so no interval (1)",
                "batch_size": "the paper's batch size, 128 images"},
    "tuned": {"grad_clip": "benchmarks/objectives.py: FID 0.80-0.96x classic's on 5 paired seeds "
                           "(D's gradient norm has a median of about 20, so 10 is active on most steps)",
              "lr": "kept from classic (the paper's)",
              "lr_g": "G and D at one rate, as in classic (0: --lr)",
              "ema_decay": "off, as in classic (EMA came later: fast-g-ema)",
              "label_smoothing": "off, as in classic",
              "r1_weight": "off, as in classic (lazy R1 came later: fast-g-ema-r1)",
              "r1_every": "off, as in classic",
              "batch_size": "128, as in classic"},
    "fast": {"grad_clip": "kept from tuned (the fast recipe was not measured without it)",
             "lr": "benchmarks/objectives.py: 4e-4 for G and D gave FID 0.78x, 0.84x, 0.90x tuned's on 3 paired "
                   "seeds (means 48.7 vs 58.2; 0.64-0.75x classic's) at the same cost per iteration; FID was still "
                   "falling steeply at the end of tuned's runs, so the short budget is limited by how far its "
                   "steps get. TTUR (D at 8e-4), betas (0, 0.99), batch 64, lr 8e-4 and EMA on top did not do "
                   "better (one seed each)",
             "lr_g": "G and D at one rate, as in classic (0: --lr)",
             "ema_decay": "off, as in classic (EMA came later: fast-g-ema)",
             "label_smoothing": "off, as in classic",
             "r1_weight": "off, as in classic (lazy R1 came later: fast-g-ema-r1)",
             "r1_every": "off, as in classic",
             "batch_size": "128, as in classic (batch 64 at the same data budget gave FID 56.2 vs 44.4 at seed "
                           "999)"},
    "fast-g": {"grad_clip": "kept from tuned and fast",
               "lr": "kept from fast: D's rate (doubling D's to 8e-4 instead made FID worse at seed 1: 51.8 vs 48.0)",
               "lr_g": "benchmarks/objectives.py: G at 8e-4 with D at 4e-4 (TTUR the other way round: G faster "
                       "than D, whose loss ends near 0.15 under fast) gave FID 0.81x, 0.68x, 0.77x fast's on 3 "
                       "paired seeds (means 36.6 vs 48.7) at the same cost per iteration; G at 1.6e-3, D at 2e-4, "
                       "--ndf 32 and hinge were not better (one seed each)",
               "ema_decay": "off, as in classic (EMA came later: fast-g-ema)",
               "label_smoothing": "off, as in classic",
               "r1_weight": "off, as in classic (lazy R1 came later: fast-g-ema-r1)",
               "r1_every": "off, as in classic",
               "batch_size": "128, as in classic"},
    "fast-g-ema": {"grad_clip": "kept from tuned, fast and fast-g",
                   "lr": "kept from fast and fast-g: D's rate",
                   "lr_g": "benchmarks/objectives.py: G at 1.2e-3 (3x D's) alone gave FID 29.8 / 36.1 / 37.5 vs "
                           "fast-g's 35.9 / 32.6 / 41.3 (seeds 999 / 1 / 2); the three changes of this recipe together "
                           "gave 27.4 / 32.7 / 31.3 (mean 30.4 vs 36.6: 0.76x, 1.00x, 0.76x) at the same time per "
                           "iteration (benchmarks/recipe_cost.py: 109 vs 110 ms)",
                   "ema_decay": "the issue's first hypothesis: samples and scores from an EMA of G whose BatchNorm "
                                "statistics are re-measured for the averaged weights; alone on fast-g 34.9 / 32.2 "
                                "vs 35.9 / 32.6 (seeds 999 / 1)",
                   "label_smoothing": "Salimans et al. 2016 (one-sided, real target 0.9): alone on fast-g 33.4 vs "
                                      "35.9 at seed 999; turned off by the losses without targets (hinge, wgan, "
                                      "wgan-gp)",
                   "r1_weight": "off (lazy R1 came next: fast-g-ema-r1)",
                   "r1_every": "off",
                   "batch_size": "128, as in classic"},
    "fast-g-ema-r1": {"": "fast-g-ema plus lazy R1",
                      "grad_clip": "kept from fast-g-ema", "lr": "kept from fast-g-ema", "lr_g": "kept from fast-g-ema",
                      "ema_decay": "kept from fast-g-ema", "label_smoothing": "kept from fast-g-ema",
                      "r1_weight": "Mescheder et al. 2018; benchmarks/objectives.py: gamma 0.1 on fast-g-ema gave FID "
                                   "25.8 / 27.8 / 27.5 vs 27.4 / 32.7 / 31.3 on seeds 999 / 1 / 2 (0.94x, 0.85x, "
                                   "0.88x; means 27.0 vs 30.4), R1's gradient clipped with the loss's (joint)",
                      "r1_every": "Karras et al. 2020 (StyleGAN2's lazy regularisation): the penalty on every 16th D "
                                  "step at 16x the weight, so its second backward pass costs 1/16 of its time",
                      "batch_size": "128, as in classic (batch 64 came next: fast-g-ema-r1-b64)"},
    "fast-g-ema-r1-b64": {"": "fast-g-ema-r1 at batch 64: the same 3 epochs of data in twice the G updates",
                          "grad_clip": "kept from fast-g-ema-r1", "lr": "kept from fast-g-ema-r1",
                          "lr_g": "kept from fast-g-ema-r1", "ema_decay": "kept from fast-g-ema-r1",
                          "label_smoothing": "kept from fast-g-ema-r1",
                          "r1_weight": "kept from fast-g-ema-r1 (its gradient clipped on its own: --penalty-clip)",
                          "r1_every": "kept from fast-g-ema-r1 (every 16th D step: twice as often per epoch)",
                          "batch_size": "benchmarks/objectives.py: batch 64 at the same data budget (2811 updates "
                                        "instead of 1404) gave FID 18.6 / 19.8 / 19.0 vs fast-g-ema-r1's 25.8 / "
                                        "27.8 / 27.5 on seeds 999 / 1 / 2 (0.72x, 0.71x, 0.69x; means 19.1 vs "
                                        "27.0; both with --penalty-clip joint); an iteration takes 0.6x the time, an epoch 1.2x on a 2-core CPU",
                          "mismatch_weight": "conditional runs only (Reed et al. 2016's matching-aware D): with "
                                             "--mode-seeking 1, class-conditional FID 10.4 / 11.0 / 12.5 on seeds "
                                             "999 / 1 / 2 (the unconditional default: 14.0 / 16.2 / 16.9) with "
                                             "class accuracy 0.90 (0.99x the classifier's); at seed 999, 27.3 "
                                             "without either, and alone 20.8 with accuracy 0.965 but recall 0.19",
                          "mode_seeking": "conditional runs only (Mao et al. 2019, MSGAN): against collapse within "
                                          "a class (recall 0.33 without it at seed 999, 0.60 with); alone it "
                                          "gave FID 15.8 but class accuracy 0.834, and the matching-aware D "
                                          "restores the classes (10.4, 0.905)"},
}


_NO_PENALTY = "no R1 in this recipe, so nothing to clip (own, the code's default, should --r1-weight be added)"
for _name in ("classic", "tuned", "fast", "fast-g", "fast-g-ema"):
    RECIPE_SOURCES[_name]["penalty_clip"] = _NO_PENALTY
RECIPE_SOURCES["fast-g-ema-r1"]["penalty_clip"] = (
    "R1's gradient clipped together with the loss's, as the code did when this recipe's FIDs were measured; "
    "in a 20-epoch run it peaked at epoch 8 and then lost ground (issue 14 found why: see the default's --penalty-clip)")
RECIPE_SOURCES["fast-g-ema-r1-b64"]["penalty_clip"] = (
    "issue 14's long run: clipped with the loss's (joint), a sharpening D's lazy R1 step was cut to --grad-clip "
    "and R1 stopped holding D; FID peaked at epoch 5 and ended at 14.7 (10k samples). Clipped on its own, at "
    "16 x the clip, the 20-epoch run improves to the end, to 3.2, and 3 epochs give 14.0 / 16.2 / 16.9 on "
    "seeds 999 / 1 / 2 (mean 15.7, against joint's 18.6 / 19.8 / 19.0)")
RECIPE_SOURCES["fast-g-ema-r1-b64"]["conditional penalty_clip"] = (
    "conditional runs keep the joint clip their FIDs above were measured with: at seed 999, own gave 14.8 "
    "(class accuracy 0.893) and R1 unclipped 31.0 (0.859), against joint's 10.4 (0.905)")


def describe_recipes() -> str:
    """Every recipe, each setting with its value and where it comes from."""
    lines = []
    for name, settings in RECIPES.items():
        lines.append(f"{name}{' (the default)' if name == DEFAULT_RECIPE else ''}:")
        sources = RECIPE_SOURCES.get(name, {})
        if "" in sources:
            lines.append(f"  {sources['']}")
        for key, value in settings.items():
            lines.append(f"  --{key.replace('_', '-')} {value}: {sources.get(key, '')}")
        extra = {k: v for k, v in CONDITIONAL[name].items() if v != settings.get(k, 0.0)}
        if extra:
            lines.append("  and with --condition class or attrs:")
            for key, value in extra.items():
                lines.append(f"    --{key.replace('_', '-')} {value}: "
                             f"{sources.get('conditional ' + key, sources.get(key, ''))}")
    return "\n".join(lines)
