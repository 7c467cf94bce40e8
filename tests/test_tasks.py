import math

import pytest
import torch

from spikelib.tasks import BOOLEAN_TASKS, boolean_task


@pytest.mark.parametrize("name, rule", [("and", lambda a, b: a & b), ("or", lambda a, b: a | b), ("xor", lambda a, b: a ^ b)])
def test_boolean_labels_follow_the_encoded_bits(name, rule):
    x, y = boolean_task(name, 2000, seed=3)
    assert x.shape == (2000, 2) and y.dtype == torch.int64
    assert ((x < 0.45) | (x >= 0.55)).all() and (x >= 0).all() and (x <= 1).all()
    bits = (x >= 0.55).long()  # True is the late spike (the authors' code)
    assert torch.equal(y, rule(bits[:, 0], bits[:, 1]))
    assert 0.1 < y.double().mean() < 0.9


def test_circles_radii():
    x, y = boolean_task("circles", 3000, seed=0)
    r = torch.linalg.norm(x - 0.5, dim=1)
    assert (r[y == 0] <= 0.3 + 1e-12).all()
    assert ((r[y == 1] >= 0.4 - 1e-12) & (r[y == 1] <= 0.5 + 1e-12)).all()
    # uniform over the area: the inner disc's mean radius is 2/3 of 0.3
    assert r[y == 0].mean().item() == pytest.approx(0.2, abs=0.01)


def test_seeded_and_validated():
    for name in BOOLEAN_TASKS:
        a, b = boolean_task(name, 50, seed=1), boolean_task(name, 50, seed=1)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(boolean_task("xor", 50, seed=1)[0], boolean_task("xor", 50, seed=2)[0])
    with pytest.raises(ValueError, match="unknown task"):
        boolean_task("nand", 10)
    with pytest.raises(ValueError, match="n must be"):
        boolean_task("xor", 0)
