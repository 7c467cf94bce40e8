"""spikelib.scales: one definition of smoke / quick / paper for every experiment."""

import pytest

from spikelib import scales


def test_scales_and_default():
    assert scales.SCALES == ("smoke", "quick", "paper")
    assert scales.DEFAULT_SCALE in scales.SCALES
    assert set(scales.SCALE_DESCRIPTIONS) == set(scales.SCALES)


@pytest.mark.parametrize("scale", scales.SCALES)
def test_check_scale_accepts_known(scale):
    assert scales.check_scale(scale) == scale


@pytest.mark.parametrize("bad", ["fast", "Quick", "", "smoke "])
def test_check_scale_error_says_what_is_allowed(bad):
    with pytest.raises(ValueError) as err:
        scales.check_scale(bad)
    msg = str(err.value)
    assert repr(bad) in msg and "smoke, quick, paper" in msg and "SCALE=quick" in msg


def test_settings_are_read_only_copies():
    exp = next(iter(scales.EXPERIMENTS))
    s = scales.settings(exp, "smoke")
    key = next(iter(s))
    with pytest.raises(TypeError):
        s[key] = 0
    with pytest.raises(TypeError):
        s["new"] = 1
    assert scales.settings(exp, "smoke") == scales.EXPERIMENTS[exp]["smoke"]
    assert scales.settings(exp) == scales.EXPERIMENTS[exp][scales.DEFAULT_SCALE]


def test_settings_errors():
    exp = next(iter(scales.EXPERIMENTS))
    with pytest.raises(ValueError, match="unknown scale"):
        scales.settings(exp, "huge")
    with pytest.raises(KeyError, match="no scale settings for experiment 'nope'"):
        scales.settings("nope", "quick")


@pytest.mark.parametrize("experiment", sorted(scales.EXPERIMENTS))
def test_every_experiment_defines_all_three_scales(experiment):
    per_scale = scales.EXPERIMENTS[experiment]
    assert set(per_scale) == set(scales.SCALES), f"{experiment}: scales {sorted(per_scale)}"
    # A notebook reads the same keys whatever the scale, so every scale must define all of them.
    keys = {s: set(v) for s, v in per_scale.items()}
    assert all(k == keys["quick"] for k in keys.values()), f"{experiment}: keys differ {keys}"
    for scale in scales.SCALES:
        assert dict(scales.settings(experiment, scale)) == per_scale[scale]
